"""ServiceAccounts: the exact create, patch or delete for each state, table-driven.

``secrets`` is merged by name (a patch names only our entries); ``imagePullSecrets``
is atomic (a patch carries the whole list and the resourceVersion it was read at).
Our entries are recorded in annotations; prune removes only those.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from syncer import accounts, pullsecrets
from syncer.model import (
    ANN_MANAGED_PULL_SECRETS,
    ANN_MANAGED_SECRETS,
    ANN_OWNERSHIP,
    INSTANCE_LABEL,
    MANAGED_BY_LABEL,
    DesiredServiceAccount,
    ObservedServiceAccount,
)

OURS = {MANAGED_BY_LABEL: "kserve-vault-sync"}
PS, PP, OWN = ANN_MANAGED_SECRETS, ANN_MANAGED_PULL_SECRETS, ANN_OWNERSHIP
DEL = "$patch"


def sa(secrets: tuple[str, ...] = (), pulls: tuple[str, ...] = (), managed: bool = True,
       **annotations: str) -> ObservedServiceAccount:
    """An existing account; annotations by short name: ours (secrets), pull, own."""
    names = {"ours": PS, "pull": PP, "own": OWN}
    return ObservedServiceAccount(
        namespace="ns", name="models", uid="u", resource_version="42",
        labels=OURS if managed else {}, secrets=secrets, image_pull_secrets=pulls,
        annotations={names[k]: v for k, v in annotations.items()})


def want(*secrets: str, pulls: tuple[str, ...] = (), instance: str = "default"
         ) -> DesiredServiceAccount:
    return DesiredServiceAccount(namespace="ns", name="models", secrets=set(secrets),
                                 pull_secrets=frozenset(pulls), instance=instance)


def names(*entries: str) -> list[dict[str, str]]:
    return [{"name": n} for n in entries]


def meta(annotations: dict[str, Any], labels: dict[str, str] | None = None,
         version: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"labels": OURS if labels is None else labels,
                           "annotations": annotations}
    if version:
        out["resourceVersion"] = "42"
    return out


@dataclass
class Add:
    observed: ObservedServiceAccount | None
    desired: DesiredServiceAccount
    available: set[str]
    expected: tuple[str, dict[str, Any]] | None  # (verb, body), or no write


ADD: dict[str, Add] = {
    "a new account lists our available Secrets, sorted, and records them": Add(
        None, want("s3", "gcs", "held", pulls=("oci", "later")), {"s3", "gcs", "oci"},
        ("create", {"apiVersion": "v1", "kind": "ServiceAccount",
                    "metadata": {"name": "models", "namespace": "ns", "labels": OURS,
                                 "annotations": {OWN: "object", PS: "gcs,s3", PP: "oci"}},
                    "secrets": names("gcs", "s3"), "imagePullSecrets": names("oci")})),
    "a new account with only a pull secret has no secrets list": Add(
        None, want(pulls=("oci",)), {"oci"},
        ("create", {"apiVersion": "v1", "kind": "ServiceAccount",
                    "metadata": {"name": "models", "namespace": "ns", "labels": OURS,
                                 "annotations": {OWN: "object", PP: "oci"}},
                    "imagePullSecrets": names("oci")})),
    "another instance labels the account it creates": Add(
        None, want("s3", instance="blue"), {"s3"},
        ("create", {"apiVersion": "v1", "kind": "ServiceAccount",
                    "metadata": {"name": "models", "namespace": "ns",
                                 "labels": {**OURS, INSTANCE_LABEL: "blue"},
                                 "annotations": {OWN: "object", PS: "s3"}},
                    "secrets": names("s3")})),
    "a new account records every pull secret": Add(
        None, want(pulls=("p2", "p1")), {"p1", "p2"},
        ("create", {"apiVersion": "v1", "kind": "ServiceAccount",
                    "metadata": {"name": "models", "namespace": "ns", "labels": OURS,
                                 "annotations": {OWN: "object", PP: "p1,p2"}},
                    "imagePullSecrets": names("p1", "p2")})),
    "nothing available: no account is created": Add(None, want("s3"), set(), None),
    "an account of someone else's gets our entry only, owned by keys": Add(
        sa(("theirs",), managed=False), want("s3"), {"s3"},
        ("patch", {"metadata": meta({OWN: "keys", PS: "s3"}), "secrets": names("s3")})),
    "an account of someone else's with nothing available is left alone": Add(
        sa(("theirs",), managed=False), want("s3", pulls=("oci",)), set(), None),
    "our record on an account no longer labelled ours claims nothing": Add(
        sa(("old",), managed=False, ours="old", own="object"), want("s3"), {"s3"},
        ("patch", {"metadata": meta({OWN: "keys", PS: "s3"}), "secrets": names("s3")})),
    "an entry listed by hand is recorded as ours": Add(
        sa(("s3",), managed=False), want("s3"), {"s3"},
        ("patch", {"metadata": meta({OWN: "keys", PS: "s3"})})),
    "our missing entries are added and the record keeps the earlier ones": Add(
        sa(("a",), ours="a", own="object"), want("a", "c", "b"), {"a", "b", "c"},
        ("patch", {"metadata": meta({OWN: "object", PS: "a,b,c"}),
                   "secrets": names("b", "c")})),
    "an unrecorded entry of ours is recorded without listing it again": Add(
        sa(("a", "b"), ours="a", own="keys"), want("a", "b"), {"a", "b"},
        ("patch", {"metadata": meta({OWN: "keys", PS: "a,b"})})),
    "an account we manage without an ownership record is ours whole": Add(
        sa((), ours=""), want("a"), {"a"},
        ("patch", {"metadata": meta({OWN: "object", PS: "a"}), "secrets": names("a")})),
    "in step: no write": Add(
        sa(("theirs", "a"), ("oci",), ours="a", pull="oci", own="keys"),
        want("a", pulls=("oci",)), {"a", "oci"}, None),
    "a listed pull secret that is not recorded is recorded, the list not sent": Add(
        sa(("a",), ("oci",), ours="a", own="keys"), want("a", pulls=("oci",)), {"a", "oci"},
        ("patch", {"metadata": meta({OWN: "keys", PS: "a", PP: "oci"})})),
    "a pull secret is appended to the whole list, sent with its version": Add(
        sa((), ("theirs",), ours="", own="keys"), want(pulls=("oci",)), {"oci"},
        ("patch", {"metadata": meta({OWN: "keys", PS: None, PP: "oci"}, version=True),
                   "imagePullSecrets": names("theirs", "oci")})),
    "a managed account that wants nothing available now is not touched": Add(
        sa(("a",), ours="a", own="keys"), want("b"), set(), None),
}


@pytest.mark.parametrize("case", ADD.values(), ids=list(ADD))
def test_diff_service_account(case: Add) -> None:
    actions = accounts.diff_service_account(case.desired, case.observed,
                                            available=case.available)
    if case.expected is None:
        assert actions == []
        return
    [action] = actions
    assert (action.kind, action.namespace, action.name) == ("ServiceAccount", "ns", "models")
    assert (action.verb, action.body) == case.expected
    assert not action.content_changed


@dataclass
class Prune:
    observed: ObservedServiceAccount
    keep: set[str]
    keep_pull: frozenset[str]
    expected: tuple[str, dict[str, Any] | None] | None  # (verb, body), or no write


PRUNE: dict[str, Prune] = {
    "an account of someone else's is never pruned": Prune(
        sa(("a",), ("p",), managed=False, ours="a", pull="p"), set(), frozenset(), None),
    "every entry of ours still wanted: no write": Prune(
        sa(("a", "theirs"), ("p",), ours="a", pull="p"), {"a"}, frozenset({"p"}), None),
    "an account we created, emptied, is deleted": Prune(
        sa(("a", "b"), ("p",), ours="a,b", pull="p", own="object"), set(), frozenset(),
        ("delete", None)),
    "without an ownership record it counts as created by us": Prune(
        sa(("a",), ours="a"), set(), frozenset(), ("delete", None)),
    "an account we own by keys loses our entries but stays": Prune(
        sa(("b", "a"), ours="a,b", own="keys"), set(), frozenset(),
        ("patch", {"metadata": {"annotations": {PS: None}},
                   "secrets": [{"name": "a", DEL: "delete"}, {"name": "b", DEL: "delete"}]})),
    "an account we created keeps the entries others listed": Prune(
        sa(("a", "theirs"), ours="a,b", own="object"), {"b"}, frozenset(),
        ("patch", {"metadata": {"annotations": {PS: "b"}},
                   "secrets": [{"name": "a", DEL: "delete"}]})),
    "the record keeps every entry still wanted": Prune(
        sa(("a", "b", "c"), ours="a,b,c", own="keys"), {"c", "b"}, frozenset(),
        ("patch", {"metadata": {"annotations": {PS: "b,c"}},
                   "secrets": [{"name": "a", DEL: "delete"}]})),
    "a pull secret others listed keeps an account we created": Prune(
        sa(("a",), ("theirs",), ours="a", own="object"), set(), frozenset(),
        ("patch", {"metadata": {"annotations": {PS: None}},
                   "secrets": [{"name": "a", DEL: "delete"}]})),
    "a stale pull secret goes from the whole list, the rest of ours stays": Prune(
        sa(("a",), ("x", "p", "q"), ours="a", pull="p,q", own="object"), {"a"},
        frozenset({"q"}),
        ("patch", {"metadata": {"annotations": {PP: "q"}, "resourceVersion": "42"},
                   "imagePullSecrets": names("x", "q")})),
    "a stale pull secret no longer listed is dropped from the record only": Prune(
        sa(("a",), ("x",), ours="a", pull="p", own="object"), {"a"}, frozenset(),
        ("patch", {"metadata": {"annotations": {PP: None}}})),
}


@pytest.mark.parametrize("case", PRUNE.values(), ids=list(PRUNE))
def test_prune_service_account(case: Prune) -> None:
    action = accounts.prune_service_account(case.observed, case.keep, case.keep_pull)
    if case.expected is None:
        assert action is None
        return
    assert action is not None
    assert (action.kind, action.namespace, action.name) == ("ServiceAccount", "ns", "models")
    assert (action.verb, action.body) == case.expected


@pytest.mark.parametrize(("observed", "wanted", "expected"), [
    (None, ["b", "a", "b"], pullsecrets.Change(listed=["a", "b"], managed={"a", "b"},
                                               added=["a", "b"])),
    (sa(pulls=("x", "b"), managed=False, pull="old"), ["a", "b"],
     pullsecrets.Change(listed=["x", "b", "a"], managed={"a", "b"}, added=["a"])),
    (sa(pulls=("a",), pull="old"), ["a"], pullsecrets.Change(managed={"a", "old"})),
    (sa(pulls=("a",), pull="old"), [], pullsecrets.Change(managed={"old"})),
])
def test_pull_secrets_added(observed: ObservedServiceAccount | None, wanted: list[str],
                            expected: pullsecrets.Change) -> None:
    assert pullsecrets.add(observed, wanted) == expected


@pytest.mark.parametrize(("observed", "keep", "expected"), [
    (sa(pulls=("x", "b", "a"), pull="a,b,c"), {"b"},
     pullsecrets.Change(listed=["x", "b"], managed={"b"}, removed=["a", "c"])),
    (sa(pulls=("x",), pull="c"), set(), pullsecrets.Change(managed=set(), removed=["c"])),
    (sa(pulls=("a",), managed=False, pull="a"), set(), pullsecrets.Change()),
])
def test_pull_secrets_removed(observed: ObservedServiceAccount, keep: set[str],
                              expected: pullsecrets.Change) -> None:
    assert pullsecrets.remove(observed, keep) == expected


def test_the_record_of_pull_secrets_is_sorted_and_empty_removes_it() -> None:
    assert pullsecrets.Change(managed={"b", "a"}).annotation == "a,b"
    assert pullsecrets.Change().annotation is None


@pytest.mark.parametrize(("change", "expected"), [
    (pullsecrets.Change(listed=["x", "p"], managed={"p"}),
     {"metadata": {"annotations": {PP: "p"}, "resourceVersion": "42"},
      "imagePullSecrets": names("x", "p")}),
    (pullsecrets.Change(), {"metadata": {"annotations": {PP: None}}}),
])
def test_pull_secrets_into_a_patch(change: pullsecrets.Change,
                                   expected: dict[str, Any]) -> None:
    body: dict[str, Any] = {}
    pullsecrets.into(body, sa(pulls=("x",)), change)
    assert body == expected
