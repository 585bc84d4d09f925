"""A ServiceAccount's ``imagePullSecrets``: our oci pull secrets in and out by name,
every other entry kept. Pure.

The kubelet pulls a pod's images - KServe's modelcar for an ``oci://`` model
among them - with the pod's ``imagePullSecrets``, which the API server's
ServiceAccount admission copies from the pod's ServiceAccount when the pod
names none. Unlike ``secrets``, this list is atomic (``listType=atomic``): a
strategic merge patch replaces it whole. So a patch carries the whole list as
we read it, changed only in our entries, together with the ``resourceVersion``
we read: if anyone changed the ServiceAccount since, the API server answers 409
and the writer re-reads and re-diffs, so an entry added meanwhile is never
lost. Our entries are named in ``kserve-vault-sync/managed-pull-secrets``;
prune removes only those.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from syncer.model import ANN_MANAGED_PULL_SECRETS, ObservedServiceAccount


@dataclass(frozen=True)
class Change:
    """What a write does to the list."""

    listed: list[str] | None = None  # the whole new list; None when it stays as it is
    managed: set[str] = field(default_factory=set)  # our entries afterwards
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def annotation(self) -> str | None:
        """The managed-pull-secrets value; None removes the annotation."""
        return ",".join(sorted(self.managed)) or None


def _ours(observed: ObservedServiceAccount | None) -> set[str]:
    return observed.managed_pull_secrets if observed is not None and observed.managed else set()


def add(observed: ObservedServiceAccount | None, wanted: Iterable[str]) -> Change:
    """List every ``wanted`` name (appended, in order) and record it as ours."""
    wanted = sorted(set(wanted))
    have = list(observed.image_pull_secrets) if observed is not None else []
    added = [name for name in wanted if name not in have]
    return Change(listed=have + added if added else None,
                  managed=_ours(observed) | set(wanted), added=added)


def remove(observed: ObservedServiceAccount, keep: set[str]) -> Change:
    """Drop our entries not in ``keep``; entries we do not own stay."""
    stale = _ours(observed) - keep
    removed = [name for name in observed.image_pull_secrets if name in stale]
    listed = [name for name in observed.image_pull_secrets if name not in stale]
    return Change(listed=listed if removed else None, managed=_ours(observed) - stale,
                  removed=sorted(stale))


def into(body: dict[str, Any], observed: ObservedServiceAccount, change: Change) -> None:
    """Add ``change`` to a ServiceAccount patch ``body``."""
    meta = body.setdefault("metadata", {})
    meta.setdefault("annotations", {})[ANN_MANAGED_PULL_SECRETS] = change.annotation
    if change.listed is not None:
        body["imagePullSecrets"] = entries(change.listed)
        # The whole list replaces the cluster's: only if nobody changed it since we read it.
        meta["resourceVersion"] = observed.resource_version


def entries(names: Iterable[str]) -> list[dict[str, str]]:
    return [{"name": name} for name in names]
