"""One write a cycle may make, and the labels on every object we write. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from syncer.model import DEFAULT_INSTANCE, INSTANCE_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE

Verb = Literal["create", "patch", "delete", "conflict"]
Kind = Literal["Secret", "ServiceAccount"]


@dataclass(frozen=True, kw_only=True)
class Action:
    verb: Verb
    kind: Kind
    namespace: str
    name: str
    reason: str
    # Create body or patch; Secret data leaves are SecretValue until the adapter encodes them.
    body: dict[str, Any] | None = None
    # A change of credential content (not only our metadata): counts as a rotation.
    content_changed: bool = False
    uid: str = ""  # the object's, when it exists


def conflict(kind: Kind, namespace: str, name: str, reason: str, uid: str = "") -> Action:
    return Action(verb="conflict", kind=kind, namespace=namespace, name=name, reason=reason,
                  uid=uid)


def labels(instance: str) -> dict[str, str]:
    if instance == DEFAULT_INSTANCE:
        return {MANAGED_BY_LABEL: MANAGED_BY_VALUE}
    return {MANAGED_BY_LABEL: MANAGED_BY_VALUE, INSTANCE_LABEL: instance}
