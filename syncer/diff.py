"""Compare desired objects with what the cluster holds; return the writes. Pure.

Content is compared key by key through digests of the values the cluster
holds (not only through our ``data-hash`` annotation), so a hand edit that
leaves the annotation alone is still seen and repaired. A no-op cycle yields
no action at all. Secret patches are JSON merge patches, so keys we do not own
are never sent, let alone overwritten; ServiceAccounts are diffed in
:mod:`syncer.accounts`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from syncer.accounts import diff_service_account, prune_service_account
from syncer.action import Action, Kind, Verb, conflict, labels
from syncer.model import (
    ANN_CREDENTIALS,
    ANN_HASH,
    ANN_MANAGED_KEYS,
    ANN_OWNERSHIP,
    ANN_SOURCE,
    ANN_SYNCED_AT,
    INSTANCE_LABEL,
    KSERVE_PREFIX,
    MANAGED_BY_LABEL,
    DesiredSecret,
    DesiredServiceAccount,
    ObservedSecret,
)
from syncer.scrub import digest

# Re-exported: the cycle, prune and repair know them as diff.*.
__all__ = ["Action", "Kind", "Verb", "create_bodies", "data_hash", "diff_secret",
           "diff_service_account", "observed_drift", "prune_secret", "prune_service_account"]

def _hash(key_digests: dict[str, str], annotations: dict[str, str]) -> str:
    canonical = {"data": key_digests, "annotations": annotations}
    return digest(json.dumps(canonical, sort_keys=True).encode())


def data_hash(desired: DesiredSecret) -> str:
    """Hash of everything we own in a Secret: our keys' values and KServe annotations."""
    return _hash({k: kv.value.sha for k, kv in desired.keys.items()},
                 {} if desired.shared else desired.annotations)


def observed_drift(observed: ObservedSecret) -> bool:
    """True when what the cluster holds no longer matches the hash we recorded."""
    recorded = observed.annotations.get(ANN_HASH)
    if not observed.managed or recorded is None:
        return False
    if observed.owned_whole:
        kserve = {k: v for k, v in observed.annotations.items() if k.startswith(KSERVE_PREFIX)}
        return _hash(observed.key_digests, kserve) != recorded
    keys = observed.managed_keys
    if not keys <= set(observed.key_digests):
        return True
    return _hash({k: observed.key_digests[k] for k in keys}, {}) != recorded


def _sources(desired: DesiredSecret, kept: str = "") -> str:
    """``mount/path@version`` of every key we write, plus the recorded sources of
    paths we keep as they are (a held entry's keys in a shared Secret)."""
    new = {kv.source for kv in desired.keys.values()}
    paths = {_path_of(s) for s in new}
    old = {s for s in kept.split(",") if s and _path_of(s) not in paths}
    return ",".join(sorted(new | old))


def _path_of(source: str) -> str:
    """``mount/path`` of a source: KV v2 adds ``@version``, and a path may hold ``@``."""
    head, at, version = source.rpartition("@")
    return head if at and version.isdigit() else source


def _our_annotations(desired: DesiredSecret, now: str, managed_keys: set[str] | None,
                     content_hash: str | None = None, kept_sources: str = "") -> dict[str, str]:
    ann = {
        ANN_HASH: content_hash or data_hash(desired),
        ANN_SOURCE: _sources(desired, kept_sources),
        ANN_CREDENTIALS: ",".join(sorted(desired.credentials)),
        ANN_SYNCED_AT: now,
        ANN_OWNERSHIP: "keys" if managed_keys is not None else "object",
    }
    if managed_keys is not None:
        ann[ANN_MANAGED_KEYS] = ",".join(sorted(managed_keys))
    return ann


def _create_secret(desired: DesiredSecret, now: str) -> Action:
    managed = set(desired.keys) if desired.shared else None
    annotations = {**desired.annotations, **_our_annotations(desired, now, managed)}
    body = {
        "apiVersion": "v1", "kind": "Secret", "type": desired.type,
        "metadata": {"name": desired.name, "namespace": desired.namespace,
                     "labels": labels(desired.instance), "annotations": annotations},
        "data": dict(sorted((k, kv.value) for k, kv in desired.keys.items())),
    }
    return Action(verb="create", kind="Secret", namespace=desired.namespace, name=desired.name,
                  reason="missing", body=body, content_changed=True)


def diff_secret(desired: DesiredSecret, observed: ObservedSecret | None, *, now: str,
                prune: bool = False) -> list[Action]:
    """The writes (at most one) and conflicts that bring one Secret to ``desired``."""
    if not desired.keys:
        return []  # every credential for it failed this cycle: leave it exactly as it is
    if observed is None:
        return [_create_secret(desired, now)]
    if desired.shared:
        return _diff_shared(desired, observed, now=now, prune=prune)
    return _diff_owned(desired, observed, now=now)


def _diff_owned(desired: DesiredSecret, observed: ObservedSecret, *, now: str) -> list[Action]:
    ns, name = desired.ref
    if not observed.owned_whole and not desired.adopt:
        why = ("a shared Secret we own only keys of" if observed.managed
               else "not created by kserve-vault-sync")
        return [conflict("Secret", ns, name,
                          f"exists and is {why}; set adopt: true on the target to take it over",
                          observed.uid)]
    if observed.type != desired.type:
        return [conflict("Secret", ns, name,
                          f"has type {observed.type}, not {desired.type} (types are immutable): "
                          "delete it and the next cycle recreates it",
                          observed.uid)]
    want = {k: kv.value.sha for k, kv in desired.keys.items()}
    have_kserve = {k: v for k, v in observed.annotations.items() if k.startswith(KSERVE_PREFIX)}
    data_patch: dict[str, Any] = {
        k: desired.keys[k].value for k, sha in want.items() if observed.key_digests.get(k) != sha}
    # A stale key (say a renamed S3 key) would confuse KServe's provider detection.
    data_patch.update({k: None for k in observed.key_digests if k not in want})
    ann_patch: dict[str, str | None] = {
        k: v for k, v in desired.annotations.items() if have_kserve.get(k) != v}
    ann_patch.update({k: None for k in have_kserve if k not in desired.annotations})
    ours = _our_annotations(desired, now, None)
    meta_stale = any(observed.annotations.get(k) != ours[k]
                     for k in (ANN_HASH, ANN_SOURCE, ANN_CREDENTIALS, ANN_OWNERSHIP))
    if not data_patch and not ann_patch and not meta_stale and observed.managed:
        return []
    reasons = ([f"data {','.join(sorted(data_patch))}"] if data_patch else []) + (
        [f"annotations {','.join(sorted(ann_patch))}"] if ann_patch else [])
    reason = "; ".join((["adopted"] if not observed.managed else []) + reasons) or "metadata"
    ann_patch.update(ours)
    ann_patch[ANN_MANAGED_KEYS] = None
    body: dict[str, Any] = {"metadata": {"labels": labels(desired.instance),
                                         "annotations": ann_patch}}
    if data_patch:
        body["data"] = data_patch
    return [Action(verb="patch", kind="Secret", namespace=ns, name=name, reason=reason,
                   body=body, content_changed=bool(reasons))]


def _diff_shared(desired: DesiredSecret, observed: ObservedSecret, *, now: str,
                 prune: bool) -> list[Action]:
    ns, name = desired.ref
    actions: list[Action] = []
    owned = observed.managed_keys if observed.managed else set()
    data_patch: dict[str, Any] = {}
    written: set[str] = set()
    for key, kv in sorted(desired.keys.items()):
        have = observed.key_digests.get(key)
        if have is not None and key not in owned and not desired.adopt:
            actions.append(conflict("Secret", ns, name,
                                     f"key {key} exists and was not written by kserve-vault-sync; "
                                     "set adopt: true on the target to take it over",
                                     observed.uid))
            continue
        written.add(key)
        if have != kv.value.sha:
            data_patch[key] = kv.value
    # A key of ours that is gone (deleted by hand) and not written now leaves the
    # record: kept in it, the Secret would read as drifted for ever.
    managed_after = (owned & set(observed.key_digests)) | written
    if prune:
        stale = owned - set(desired.keys) - desired.held_keys
        data_patch.update({k: None for k in stale if k in observed.key_digests})
        managed_after -= stale
    mine = DesiredSecret(namespace=ns, name=name, shared=True, instance=desired.instance,
                         keys={k: desired.keys[k] for k in written},
                         credentials=desired.credentials)
    # The hash covers every key we own after this write: the ones written now and
    # the ones kept as they are (held this cycle, or left by an entry without prune).
    covered = {k: kv.value.sha for k, kv in mine.keys.items()}
    covered.update({k: observed.key_digests[k] for k in managed_after - written
                    if k in observed.key_digests})
    kept = observed.annotations.get(ANN_SOURCE, "") if managed_after - written else ""
    if managed_after - written:
        # Keys kept as they are still belong to whoever wrote them: keep their names,
        # so a later prune can tell a deleted entry's keys from a renamed one.
        mine.credentials = mine.credentials | {
            c for c in observed.annotations.get(ANN_CREDENTIALS, "").split(",") if c}
    ours = _our_annotations(mine, now, managed_after, _hash(covered, {}), kept)
    if observed.managed and observed.annotations.get(ANN_OWNERSHIP) == "object":
        # We created it: keep that for prune - and compare against it, or a Secret
        # created whole that became a storage-spec Secret is "stale" every cycle.
        ours[ANN_OWNERSHIP] = "object"
    meta_stale = not observed.managed or any(
        observed.annotations.get(k) != ours[k]
        for k in (ANN_HASH, ANN_SOURCE, ANN_CREDENTIALS, ANN_MANAGED_KEYS, ANN_OWNERSHIP))
    if not data_patch and not meta_stale:
        return actions
    if not written and not data_patch:
        return actions  # nothing of ours to record: every key conflicted
    body: dict[str, Any] = {"metadata": {"labels": labels(desired.instance),
                                         "annotations": ours}}
    if data_patch:
        body["data"] = data_patch
    reason = f"keys {','.join(sorted(data_patch))}" if data_patch else "metadata"
    actions.append(Action(verb="patch", kind="Secret", namespace=ns, name=name, reason=reason,
                          body=body, content_changed=bool(data_patch)))
    return actions


def create_bodies(secrets: Iterable[DesiredSecret], accounts: Iterable[DesiredServiceAccount],
                  *, now: str) -> list[dict[str, Any]]:
    """What a first sync would send for these objects: ``render`` prints objects
    made by the very code that makes the writes."""
    bodies = [a.body for s in secrets for a in diff_secret(s, None, now=now)]
    bodies += [a.body for sa in accounts
               for a in diff_service_account(sa, None,
                                             available=sa.secrets | sa.pull_secrets)]
    return [b for b in bodies if b is not None]


def prune_secret(observed: ObservedSecret) -> Action | None:
    """With prune on: an object we own that no config entry wants any more."""
    if not observed.managed:
        return None
    if observed.owned_whole:
        return Action(verb="delete", kind="Secret", namespace=observed.namespace,
                      name=observed.name, reason="pruned")
    keys = observed.managed_keys & set(observed.key_digests)
    body: dict[str, Any] = {
        "metadata": {"annotations": {ANN_MANAGED_KEYS: None, ANN_HASH: None, ANN_SOURCE: None,
                                     ANN_CREDENTIALS: None, ANN_OWNERSHIP: None},
                     "labels": {MANAGED_BY_LABEL: None, INSTANCE_LABEL: None}},
        "data": {k: None for k in sorted(keys)},
    }
    return Action(verb="patch", kind="Secret", namespace=observed.namespace, name=observed.name,
                  reason=f"pruned keys {','.join(sorted(keys))}", body=body)
