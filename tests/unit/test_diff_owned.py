"""A Secret we own whole (a per-backend Secret): the exact create, patch, prune and
drift verdict for each state, table-driven.

The patch carries only the data keys and serving.kserve.io annotations that
differ, our own annotations, and removes a key-by-key record; applied, it leaves
nothing to do and no drift.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pytest

from syncer import diff
from syncer.model import (
    ANN_CREDENTIALS,
    ANN_HASH,
    ANN_MANAGED_KEYS,
    ANN_OWNERSHIP,
    ANN_SOURCE,
    ANN_SYNCED_AT,
    INSTANCE_LABEL,
    MANAGED_BY_LABEL,
    DesiredSecret,
    KeyValue,
    ObservedSecret,
)
from syncer.secretvalue import SecretValue

NOW = "2026-11-25T00:00:00Z"
OURS = {MANAGED_BY_LABEL: "kserve-vault-sync"}
SRC = "secret/p@2"
REGION, ENDPOINT = "serving.kserve.io/s3-region", "serving.kserve.io/s3-endpoint"


def want(data: dict[str, str], kserve: dict[str, str] | None = None, *, adopt: bool = False,
         cred: str = "cred", source: str = SRC, type_: str = "Opaque",
         instance: str = "default") -> DesiredSecret:
    return DesiredSecret(namespace="ns", name="s3-secret", shared=False, type=type_,
                         keys={k: KeyValue(SecretValue(v), cred, source)
                               for k, v in data.items()},
                         annotations=dict(kserve or {}), adopt=adopt, credentials={cred},
                         instance=instance)


def ours(d: DesiredSecret, source: str = SRC, credentials: str = "cred") -> dict[str, str]:
    return {ANN_HASH: diff.data_hash(d), ANN_SOURCE: source, ANN_CREDENTIALS: credentials,
            ANN_SYNCED_AT: NOW, ANN_OWNERSHIP: "object"}


def seen(data: dict[str, str], annotations: dict[str, str], managed: bool = True,
         type_: str = "Opaque") -> ObservedSecret:
    return ObservedSecret(namespace="ns", name="s3-secret", uid="uid-2", resource_version="3",
                          type=type_, labels=OURS if managed else {}, annotations=annotations,
                          key_digests={k: SecretValue(v).sha for k, v in data.items()})


def written(data: dict[str, str], kserve: dict[str, str] | None = None,
            **record: str) -> ObservedSecret:
    """What we wrote for ``want(data, kserve)``; ``record`` overrides our annotations."""
    d = want(data, kserve)
    return seen(data, {**(kserve or {}), **ours(d), **record})


def apply(observed: ObservedSecret, body: dict[str, Any]) -> ObservedSecret:
    """What the API server holds after this JSON merge patch."""
    def merge(old: dict[str, str], patch: dict[str, Any]) -> dict[str, str]:
        out = dict(old)
        for k, v in patch.items():
            out.pop(k, None) if v is None else out.__setitem__(k, v)
        return out
    digests = merge(observed.key_digests, {k: None if v is None else v.sha
                                           for k, v in body.get("data", {}).items()})
    return replace(observed, labels=merge(observed.labels, body["metadata"]["labels"]),
                   annotations=merge(observed.annotations, body["metadata"]["annotations"]),
                   key_digests=digests)


@dataclass
class Case:
    observed: ObservedSecret
    desired: DesiredSecret
    data: dict[str, str | None] | None  # the patch's data, or None: no data sent
    kserve: dict[str, str | None]  # serving.kserve.io annotations sent
    content_changed: bool
    source: str = SRC
    credentials: str = "cred"
    labels: dict[str, str] | None = None


A = {"AK": "a1", "SK": "s1"}
CASES: dict[str, Case] = {
    "a new value is sent for that key only": Case(
        written(A), want({"AK": "a1", "SK": "s2"}), {"SK": "s2"}, {}, True),
    "a key no longer wanted is removed": Case(
        written({**A, "OLD": "o"}), want(A), {"OLD": None}, {}, True),
    "a hand edit is repaired though our hash is untouched": Case(
        seen({"AK": "a1", "SK": "edited"}, {**ours(want(A))}), want(A), {"SK": "s1"}, {},
        True),
    "a changed KServe annotation is sent, the others not": Case(
        written(A, {REGION: "r1", ENDPOINT: "e"}), want(A, {REGION: "r2", ENDPOINT: "e"}),
        None, {REGION: "r2"}, True),
    "a KServe annotation no longer wanted is removed": Case(
        written(A, {REGION: "r1", ENDPOINT: "e"}), want(A, {REGION: "r1"}),
        None, {ENDPOINT: None}, True),
    "a new Vault version of the same values rewrites our record only": Case(
        written(A), want(A, source="secret/p@3"), None, {}, False, source="secret/p@3"),
    "a renamed credential rewrites our record only": Case(
        written(A), want(A, cred="renamed"), None, {}, False, credentials="renamed"),
    "a lost ownership record is written again": Case(
        seen(A, {k: v for k, v in ours(want(A)).items() if k != ANN_OWNERSHIP}), want(A),
        None, {}, False),
    "a lost hash is written again": Case(
        seen(A, {k: v for k, v in ours(want(A)).items() if k != ANN_HASH}), want(A),
        None, {}, False),
    "adopting a Secret that already holds our values records it": Case(
        seen(A, {REGION: "r"}, managed=False), want(A, {REGION: "r"}, adopt=True),
        None, {}, False),
    "adopting sends what differs": Case(
        seen({"AK": "x"}, {}, managed=False), want(A, {REGION: "r"}, adopt=True),
        {"AK": "a1", "SK": "s1"}, {REGION: "r"}, True),
    "adopting a Secret we owned key by key drops that record": Case(
        seen(A, {**ours(want(A)), ANN_OWNERSHIP: "keys", ANN_MANAGED_KEYS: "AK,SK"}),
        want(A, adopt=True), None, {}, False),
    "another instance labels what it adopts": Case(
        seen(A, {}, managed=False), want(A, adopt=True, instance="blue"), None, {}, False,
        labels={**OURS, INSTANCE_LABEL: "blue"}),
}


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_owned_secret_patch(case: Case) -> None:
    [patch] = diff.diff_secret(case.desired, case.observed, now=NOW)
    assert (patch.verb, patch.kind, patch.namespace, patch.name) == (
        "patch", "Secret", "ns", "s3-secret")
    expected: dict[str, Any] = {"metadata": {
        "labels": case.labels or OURS,
        "annotations": {**case.kserve, **ours(case.desired, case.source, case.credentials),
                        ANN_MANAGED_KEYS: None}}}
    if case.data is not None:
        expected["data"] = {k: None if v is None else SecretValue(v)
                            for k, v in case.data.items()}
    assert patch.body == expected
    assert patch.content_changed is case.content_changed
    after = apply(case.observed, patch.body)
    assert not diff.observed_drift(after)
    assert diff.diff_secret(case.desired, after, now="later") == []


@pytest.mark.parametrize(("observed", "desired"), [
    (written(A), want(A)),
    (written(A, {REGION: "r"}), want(A, {REGION: "r"})),
])
def test_in_step_is_no_write(observed: ObservedSecret, desired: DesiredSecret) -> None:
    assert diff.diff_secret(desired, observed, now="later") == []


@pytest.mark.parametrize(("observed", "desired"), [
    (seen(A, {}, managed=False), want(A)),
    (seen(A, {**ours(want(A)), ANN_OWNERSHIP: "keys"}), want(A)),
    (written(A), want(A, type_="kubernetes.io/dockerconfigjson")),
    (seen(A, {}, managed=False, type_="kubernetes.io/tls"), want(A, adopt=True)),
])
def test_refused(observed: ObservedSecret, desired: DesiredSecret) -> None:
    """Not ours (without adopt), or of another type: a conflict naming the object."""
    [action] = diff.diff_secret(desired, observed, now=NOW)
    assert (action.verb, action.kind, action.namespace, action.name, action.uid,
            action.body) == ("conflict", "Secret", "ns", "s3-secret", "uid-2", None)


@pytest.mark.parametrize(("desired", "ownership"), [
    (want({"B": "2", "A": "1"}, {REGION: "r"}), {ANN_OWNERSHIP: "object"}),
    (want({"A": "1"}, instance="blue", type_="kubernetes.io/dockerconfigjson"),
     {ANN_OWNERSHIP: "object"}),
    (replace(want({"B": "2", "A": "1"}), name="storage-config", shared=True),
     {ANN_OWNERSHIP: "keys", ANN_MANAGED_KEYS: "A,B"}),
])
def test_created(desired: DesiredSecret, ownership: dict[str, str]) -> None:
    [action] = diff.diff_secret(desired, None, now=NOW)
    assert (action.verb, action.kind, action.namespace, action.name, action.content_changed
            ) == ("create", "Secret", "ns", desired.name, True)
    labels = OURS if desired.instance == "default" else {**OURS, INSTANCE_LABEL: "blue"}
    assert action.body == {
        "apiVersion": "v1", "kind": "Secret", "type": desired.type,
        "metadata": {"name": desired.name, "namespace": "ns", "labels": labels,
                     "annotations": {**desired.annotations, **ours(desired), **ownership}},
        "data": {k: desired.keys[k].value for k in sorted(desired.keys)}}
    assert list(action.body["data"]) == sorted(desired.keys)


def test_pruned() -> None:
    assert diff.prune_secret(seen(A, ours(want(A)), managed=False)) is None
    deleted = diff.prune_secret(written(A))
    assert deleted is not None
    assert (deleted.verb, deleted.kind, deleted.namespace, deleted.name, deleted.body) == (
        "delete", "Secret", "ns", "s3-secret", None)
    shared = seen({"B": "2", "A": "1", "theirs": "x"},
                  {**ours(want(A)), ANN_OWNERSHIP: "keys", ANN_MANAGED_KEYS: "A,B,gone"})
    patch = diff.prune_secret(shared)
    assert patch is not None
    assert (patch.verb, patch.kind, patch.namespace, patch.name) == (
        "patch", "Secret", "ns", "s3-secret")
    assert patch.body == {
        "metadata": {"annotations": {ANN_MANAGED_KEYS: None, ANN_HASH: None, ANN_SOURCE: None,
                                     ANN_CREDENTIALS: None, ANN_OWNERSHIP: None},
                     "labels": {MANAGED_BY_LABEL: None, INSTANCE_LABEL: None}},
        "data": {"A": None, "B": None}}


DRIFT: dict[str, tuple[ObservedSecret, bool]] = {
    "in step": (written(A, {REGION: "r"}), False),
    "a value edited": (seen({"AK": "a1", "SK": "x"}, {**ours(want(A))}), True),
    "a key added": (seen({**A, "X": "x"}, {**ours(want(A))}), True),
    "a KServe annotation edited": (
        seen(A, {REGION: "r2", **ours(want(A, {REGION: "r"}))}), True),
    "no hash recorded": (seen({"AK": "x"}, {ANN_SOURCE: SRC}), False),
    "not ours, though it carries our hash": (
        seen({"AK": "x"}, {**ours(want(A))}, managed=False), False),
    "keys: ours in step, theirs edited": (
        seen({**A, "theirs": "y"}, {ANN_HASH: diff.data_hash(replace(want(A), shared=True)),
                                    ANN_OWNERSHIP: "keys", ANN_MANAGED_KEYS: "AK,SK"}), False),
    "keys: one of ours edited": (
        seen({**A, "SK": "z"}, {ANN_HASH: diff.data_hash(replace(want(A), shared=True)),
                                ANN_OWNERSHIP: "keys", ANN_MANAGED_KEYS: "AK,SK"}), True),
    "keys: one of ours deleted": (
        seen({"AK": "a1"}, {ANN_HASH: diff.data_hash(replace(want(A), shared=True)),
                            ANN_OWNERSHIP: "keys", ANN_MANAGED_KEYS: "AK,SK"}), True),
}


@pytest.mark.parametrize(("observed", "drift"), DRIFT.values(), ids=list(DRIFT))
def test_observed_drift(observed: ObservedSecret, drift: bool) -> None:
    assert diff.observed_drift(observed) is drift
