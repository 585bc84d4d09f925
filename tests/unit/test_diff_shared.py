"""A shared Secret (storage-config), owned key by key: the exact patch for each state.

Each case gives what the cluster holds and what the config wants, and expects the
whole list of actions: conflicts for keys someone else wrote, and one JSON merge
patch naming only our keys and recording them (managed-keys, credentials, source,
a hash over every key we own). Applying the patch must leave nothing to do.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
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


def want(adopt: bool = False, held: tuple[str, ...] = (), instance: str = "default",
         cred: str = "cred", source: str = SRC, **keys: str) -> DesiredSecret:
    return DesiredSecret(namespace="ns", name="storage-config", shared=True,
                         keys={k: KeyValue(SecretValue(v), cred, source)
                               for k, v in keys.items()},
                         held_keys=frozenset(held), adopt=adopt, credentials={cred},
                         instance=instance)


def seen(data: dict[str, str], annotations: dict[str, str] | None = None,
         managed: bool = True) -> ObservedSecret:
    return ObservedSecret(namespace="ns", name="storage-config", uid="uid-1",
                          resource_version="7", type="Opaque",
                          labels=OURS if managed else {}, annotations=annotations or {},
                          key_digests={k: SecretValue(v).sha for k, v in data.items()})


def hash_of(**values: str) -> str:
    """The data-hash of a shared Secret whose keys we own hold these values."""
    return diff.data_hash(DesiredSecret(
        namespace="ns", name="storage-config", shared=True,
        keys={k: KeyValue(SecretValue(v), "any", "any") for k, v in values.items()}))


def ours(managed: str, credentials: str = "cred", source: str = SRC,
         ownership: str = "keys", **values: str) -> dict[str, str]:
    """Our annotations on a shared Secret whose keys we own hold ``values``."""
    return {ANN_HASH: hash_of(**values), ANN_SOURCE: source, ANN_CREDENTIALS: credentials,
            ANN_SYNCED_AT: NOW, ANN_OWNERSHIP: ownership, ANN_MANAGED_KEYS: managed}


def written(*keys: str, credentials: str = "cred", source: str = SRC,
            **values: str) -> ObservedSecret:
    """A storage-config we wrote before: ``values`` (ours are ``keys``), as recorded."""
    owned = {k: values[k] for k in keys}
    return seen(values, ours(",".join(sorted(keys)), credentials, source, **owned))


def conflict(key: str) -> tuple[str, str, str]:
    return ("conflict", key, "uid-1")


@dataclass
class Case:
    observed: ObservedSecret
    desired: DesiredSecret
    conflicts: list[str] = field(default_factory=list)  # keys refused, in order
    data: dict[str, str | None] | None = None  # the patch's data, or no data sent
    annotations: dict[str, str] | None = None  # None: no patch at all
    prune: bool = False
    labels: dict[str, str] = field(default_factory=lambda: OURS)


CASES: dict[str, Case] = {
    "a hand-made Secret gets our key, its own keys are never sent": Case(
        seen({"theirs": "x"}, managed=False), want(HF_TOKEN="t"),
        data={"HF_TOKEN": "t"}, annotations=ours("HF_TOKEN", HF_TOKEN="t")),
    "a key of our name someone else wrote is refused, and nothing else is written": Case(
        seen({"HF_TOKEN": "mine"}, managed=False), want(HF_TOKEN="t"),
        conflicts=["HF_TOKEN"]),
    "every refused key is reported, the free ones written": Case(
        seen({"a": "1", "b": "2"}, managed=False), want(a="x", b="y", c="z"),
        conflicts=["a", "b"], data={"c": "z"}, annotations=ours("c", c="z")),
    "adopt takes a key of our name": Case(
        seen({"HF_TOKEN": "mine"}, managed=False), want(adopt=True, HF_TOKEN="t"),
        data={"HF_TOKEN": "t"}, annotations=ours("HF_TOKEN", HF_TOKEN="t")),
    "adopting a key that already holds our value records it without sending data": Case(
        seen({"HF_TOKEN": "t"}, managed=False), want(adopt=True, HF_TOKEN="t"),
        annotations=ours("HF_TOKEN", HF_TOKEN="t")),
    "in a Secret we manage, a key we do not own is still refused": Case(
        written("m", m="spec", team="theirs"), want(m="spec", team="t"),
        conflicts=["team"]),
    "our record on a Secret no longer labelled ours claims nothing": Case(
        seen({"HF_TOKEN": "t"}, ours("HF_TOKEN", HF_TOKEN="t"), managed=False),
        want(HF_TOKEN="t"), conflicts=["HF_TOKEN"]),
    "a new value is sent for that key only": Case(
        written("a", "b", a="1", b="2"), want(a="1", b="3"),
        data={"b": "3"}, annotations=ours("a,b", a="1", b="3")),
    "a key we own that was deleted by hand is written again": Case(
        seen({"a": "1"}, ours("a,b", a="1", b="2")),
        want(a="1", b="2"), data={"b": "2"}, annotations=ours("a,b", a="1", b="2")),
    "without prune a key no entry wants stays ours, hashed with its value": Case(
        written("a", "gone", a="1", gone="g", credentials="cred,old",
                source="secret/old@1,secret/p@2"),
        want(source="secret/p@3", a="2"),
        data={"a": "2"},
        annotations=ours("a,gone", "cred,old", "secret/old@1,secret/p@3", a="2", gone="g")),
    "prune removes our key no entry wants, and forgets its writer and source": Case(
        written("a", "gone", a="1", gone="g", theirs="x", credentials="cred,old",
                source="secret/old@1,secret/p@2"),
        want(a="1"), prune=True,
        data={"gone": None}, annotations=ours("a", a="1")),
    "prune keeps a held key and its writer": Case(
        written("a", "kept", a="1", kept="h", credentials="cred,old",
                source="secret/old@1,secret/p@2"),
        want(held=("kept",), a="2"), prune=True, data={"a": "2"},
        annotations=ours("a,kept", "cred,old", "secret/old@1,secret/p@2", a="2", kept="h")),
    "a kept key with its writer and source lost from our record: they are not made up": Case(
        seen({"a": "1", "kept": "k"}, {k: v for k, v in ours("a,kept", a="1", kept="k").items()
                                       if k not in (ANN_SOURCE, ANN_CREDENTIALS)}),
        want(a="1"), annotations=ours("a,kept", a="1", kept="k")),
    "prune of a key already deleted by hand only drops it from our record": Case(
        seen({"a": "1"}, ours("a,gone", source=SRC, a="1")),
        want(a="1"), prune=True, annotations=ours("a", a="1")),
    "a new Vault version of the same value rewrites the source only": Case(
        written("a", a="1"), want(source="secret/p@3", a="1"),
        annotations=ours("a", source="secret/p@3", a="1")),
    "a renamed credential of the same value rewrites the credentials only": Case(
        written("a", a="1"), want(cred="renamed", a="1"),
        annotations=ours("a", credentials="renamed", a="1")),
    "another instance labels what it writes": Case(
        seen({}, managed=False), want(instance="blue", a="1"),
        data={"a": "1"}, annotations=ours("a", a="1"),
        labels={**OURS, INSTANCE_LABEL: "blue"}),
}


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


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_shared_secret_patch(case: Case) -> None:
    actions = diff.diff_secret(case.desired, case.observed, now=NOW, prune=case.prune)
    refused = [a for a in actions if a.verb == "conflict"]
    assert [(a.verb, next(k for k in case.desired.keys if f"key {k} " in a.reason), a.uid)
            for a in refused] == [conflict(k) for k in case.conflicts]
    assert all((a.kind, a.namespace, a.name, a.body) == ("Secret", "ns", "storage-config", None)
               for a in refused)
    patches = actions[len(refused):]
    if case.annotations is None:
        assert patches == []
        return
    [patch] = patches
    assert (patch.verb, patch.kind, patch.namespace, patch.name) == (
        "patch", "Secret", "ns", "storage-config")
    assert patch.body is not None
    expected: dict[str, Any] = {"metadata": {"labels": case.labels,
                                             "annotations": case.annotations}}
    if case.data is not None:
        expected["data"] = {k: None if v is None else SecretValue(v)
                            for k, v in case.data.items()}
    assert patch.body == expected
    assert patch.content_changed == bool(case.data)
    # Written, it is in step: no drift, and the next cycle writes nothing.
    after = apply(case.observed, patch.body)
    assert not diff.observed_drift(after)
    assert [a.verb for a in diff.diff_secret(case.desired, after, now="later",
                                             prune=case.prune)] == ["conflict"] * len(refused)


def test_a_secret_we_created_whole_stays_ours_to_delete() -> None:
    """Once an owned Secret, now a storage-spec Secret: its keys are recorded, and its
    ownership stays "object" so prune may still delete it."""
    before = seen({"a": "1"}, {ANN_OWNERSHIP: "object"})
    [refused, patch] = diff.diff_secret(want(a="x", b="2"), before, now=NOW)
    assert (refused.verb, refused.uid) == ("conflict", "uid-1")  # no key of it is recorded
    assert patch.body == {"metadata": {"labels": OURS, "annotations": ours(
        "b", ownership="object", b="2")}, "data": {"b": SecretValue("2")}}
    # Written, it is in step: the next cycle writes nothing (it used to patch its
    # metadata every cycle, comparing ownership "object" with "keys").
    after = apply(before, patch.body)
    assert [a.verb for a in diff.diff_secret(want(a="x", b="2"), after, now="later")] == [
        "conflict"]
    hand_made = seen({}, {ANN_OWNERSHIP: "object"}, managed=False)
    [patch] = diff.diff_secret(want(b="2"), hand_made, now=NOW)
    assert patch.body is not None
    assert patch.body["metadata"]["annotations"][ANN_OWNERSHIP] == "keys"


def test_nothing_wanted_writes_nothing() -> None:
    """Every credential of the Secret failed this cycle: even prune leaves it alone."""
    before = written("a", a="1")
    assert diff.diff_secret(want(held=("a",)), before, now=NOW, prune=True) == []


def test_a_key_of_ours_deleted_by_hand_and_no_longer_wanted_is_forgotten() -> None:
    """Prune off, the entry that wrote ``b`` gone, and ``b`` deleted by hand: our record
    drops it, so the Secret is not reported as drifted forever."""
    recorded = written("a", "b", a="1", b="2")
    before = replace(recorded, key_digests={"a": recorded.key_digests["a"]})
    assert diff.observed_drift(before)
    [patch] = diff.diff_secret(want(a="1"), before, now=NOW)
    assert patch.body is not None and "data" not in patch.body
    assert patch.body["metadata"]["annotations"][ANN_MANAGED_KEYS] == "a"
    after = apply(before, patch.body)
    assert not diff.observed_drift(after)
    assert diff.diff_secret(want(a="1"), after, now="later") == []


def test_a_vault_path_with_an_at_sign_keeps_its_recorded_source() -> None:
    """Sources are ``mount/path@version``; a path may itself hold ``@``. Writing one
    path must not drop another path's source that shares the text before an ``@``."""
    kept = "secret/team@y/other@1"
    before = seen({"a": "1", "b": "2"}, {**ours("a,b", source=kept, a="1", b="2")})
    desired = want(held=("b",), source="secret/team@x/creds@3", a="9")
    [patch] = diff.diff_secret(desired, before, now=NOW)
    assert patch.body is not None
    sources = patch.body["metadata"]["annotations"][ANN_SOURCE].split(",")
    assert sources == ["secret/team@x/creds@3", "secret/team@y/other@1"]
