"""ServiceAccounts: our Secrets in ``secrets:`` and our pull secrets in
``imagePullSecrets``, every other entry kept. Pure.

``secrets:`` is merged by name in a strategic merge patch, so a patch names only
our entries. ``imagePullSecrets`` is an atomic list (:mod:`syncer.pullsecrets`).
Our entries are recorded in annotations, so prune removes only those, and a
ServiceAccount is deleted only if we created it and nothing is left in it.
"""

from __future__ import annotations

from typing import Any

from syncer import pullsecrets
from syncer.action import Action, labels
from syncer.model import (
    ANN_MANAGED_PULL_SECRETS,
    ANN_MANAGED_SECRETS,
    ANN_OWNERSHIP,
    DesiredServiceAccount,
    ObservedServiceAccount,
)


def diff_service_account(desired: DesiredServiceAccount, observed: ObservedServiceAccount | None,
                         *, available: set[str]) -> list[Action]:
    """Add our Secrets to ``secrets:`` (merged by name) and our pull secrets to
    ``imagePullSecrets`` (:mod:`syncer.pullsecrets`); every other entry stays.

    Only Secrets in ``available`` (present in the cluster and ours) are listed:
    KServe's webhook rejects a pod whose ServiceAccount lists a missing Secret.
    """
    ns, name = desired.ref
    wanted = sorted(s for s in desired.secrets if s in available)
    pull = pullsecrets.add(observed, (s for s in desired.pull_secrets if s in available))
    if observed is None:
        if not wanted and not pull.added:
            return []
        annotations = {ANN_OWNERSHIP: "object"}
        create: dict[str, Any] = {"apiVersion": "v1", "kind": "ServiceAccount",
                                  "metadata": {"name": name, "namespace": ns,
                                               "labels": labels(desired.instance),
                                               "annotations": annotations}}
        if wanted:
            annotations[ANN_MANAGED_SECRETS] = ",".join(wanted)
            create["secrets"] = [{"name": s} for s in wanted]
        if pull.added:
            annotations[ANN_MANAGED_PULL_SECRETS] = ",".join(pull.added)
            create["imagePullSecrets"] = pullsecrets.entries(pull.added)
        return [Action(verb="create", kind="ServiceAccount", namespace=ns, name=name,
                       reason="missing", body=create)]
    missing = [s for s in wanted if s not in observed.secrets]
    managed_before = observed.managed_secrets if observed.managed else set()
    managed_after = managed_before | set(wanted)
    pulls_before = observed.managed_pull_secrets if observed.managed else set()
    if (not missing and not pull.added and observed.managed and managed_after == managed_before
            and pull.managed == pulls_before):
        return []
    if not missing and not wanted and not pull.managed:
        return []
    ownership = (observed.annotations.get(ANN_OWNERSHIP, "object") if observed.managed
                 else "keys")
    body: dict[str, Any] = {"metadata": {"labels": labels(desired.instance), "annotations": {
        ANN_OWNERSHIP: ownership, ANN_MANAGED_SECRETS: ",".join(sorted(managed_after)) or None}}}
    if missing:
        body["secrets"] = [{"name": s} for s in missing]
    if pull.managed:
        pullsecrets.into(body, observed, pull)
    added = missing + pull.added
    reason = f"add {','.join(added)}" if added else "metadata"
    return [Action(verb="patch", kind="ServiceAccount", namespace=ns, name=name, reason=reason,
                   body=body)]


def prune_service_account(observed: ObservedServiceAccount, keep: set[str],
                          keep_pull: frozenset[str] = frozenset()) -> Action | None:
    """Remove our entries no config wants (``secrets`` not in ``keep``, pull secrets
    not in ``keep_pull``); delete the ServiceAccount only if we created it and
    nothing is left in either list."""
    if not observed.managed:
        return None
    stale = sorted(observed.managed_secrets - keep)
    pull = pullsecrets.remove(observed, set(keep_pull))
    if not stale and not pull.removed:
        return None
    remaining = [s for s in observed.secrets if s not in stale]
    left_pulls = (pull.listed if pull.listed is not None
                  else list(observed.image_pull_secrets))
    if (observed.annotations.get(ANN_OWNERSHIP, "object") == "object" and not remaining
            and not left_pulls):
        return Action(verb="delete", kind="ServiceAccount", namespace=observed.namespace,
                      name=observed.name, reason="pruned")
    patch: dict[str, Any] = {"metadata": {"annotations": {}}}
    if stale:
        left = sorted(observed.managed_secrets & keep)
        patch["metadata"]["annotations"][ANN_MANAGED_SECRETS] = ",".join(left) or None
        patch["secrets"] = [{"name": s, "$patch": "delete"} for s in stale]
    if pull.removed:
        pullsecrets.into(patch, observed, pull)
    return Action(verb="patch", kind="ServiceAccount", namespace=observed.namespace,
                  name=observed.name, reason=f"pruned {','.join(stale + pull.removed)}",
                  body=patch)
