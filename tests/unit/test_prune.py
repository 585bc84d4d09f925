"""Prune planning (syncer/prune.py): the order that keeps KServe's webhook happy
and the guard that refuses to remove a large share of the fleet at once."""

from __future__ import annotations

import pytest

from syncer import prune, render
from syncer.model import (
    ANN_CREDENTIALS,
    ANN_MANAGED_KEYS,
    ANN_MANAGED_SECRETS,
    ANN_OWNERSHIP,
    MANAGED_BY_LABEL,
    DesiredSecret,
    DesiredServiceAccount,
    KeyValue,
    ObservedSecret,
    ObservedServiceAccount,
    Ref,
)
from syncer.secretvalue import SecretValue

OURS = {MANAGED_BY_LABEL: "kserve-vault-sync"}


def secret(ns: str, name: str, cred: str) -> ObservedSecret:
    return ObservedSecret(namespace=ns, name=name, uid="u", resource_version="1",
                          type="Opaque", labels=OURS,
                          annotations={ANN_OWNERSHIP: "object", ANN_CREDENTIALS: cred},
                          key_digests={"K": "d"})


def account(ns: str, name: str, lists: tuple[str, ...]) -> ObservedServiceAccount:
    return ObservedServiceAccount(namespace=ns, name=name, uid="u", resource_version="1",
                                  labels=OURS, annotations={
                                      ANN_OWNERSHIP: "object",
                                      ANN_MANAGED_SECRETS: ",".join(lists)},
                                  secrets=(*lists, "theirs"))


def fleet(namespaces: int) -> tuple[dict[Ref, ObservedSecret], dict[Ref, ObservedServiceAccount]]:
    """Two credentials (s3, hf), each a Secret listed by a ServiceAccount, per namespace."""
    secrets, accounts = {}, {}
    for i in range(namespaces):
        ns = f"ns-{i}"
        for cred in ("s3", "hf"):
            secrets[(ns, f"{cred}-secret")] = secret(ns, f"{cred}-secret", cred)
            accounts[(ns, f"{cred}-sa")] = account(ns, f"{cred}-sa", (f"{cred}-secret",))
    return secrets, accounts


def wanting(namespaces: list[str], creds: tuple[str, ...] = ("s3", "hf")) -> render.Rendered:
    out = render.Rendered()
    for ns in namespaces:
        for cred in creds:
            out.secrets[(ns, f"{cred}-secret")] = DesiredSecret(
                namespace=ns, name=f"{cred}-secret", shared=False)
            out.service_accounts[(ns, f"{cred}-sa")] = DesiredServiceAccount(
                namespace=ns, name=f"{cred}-sa", secrets={f"{cred}-secret"})
    return out


ALL = [f"ns-{i}" for i in range(20)]
GUARD: list[tuple[str, list[str], tuple[str, ...], set[str], bool, bool]] = [
    # (case, namespaces still wanted, credentials still rendered, credentials in the config,
    #  confirmed, refused)
    ("nothing to prune", ALL, ("s3", "hf"), {"s3", "hf"}, False, False),
    ("one namespace of twenty dropped: 5%", ALL[1:], ("s3", "hf"), {"s3", "hf"}, False, False),
    ("a selector typo: every namespace", [], ("s3", "hf"), {"s3", "hf"}, False, True),
    ("half the namespaces", ALL[:10], ("s3", "hf"), {"s3", "hf"}, False, True),
    ("confirmed", [], ("s3", "hf"), {"s3", "hf"}, True, False),
    ("one entry deleted from the config: 50%", ALL, ("hf",), {"hf"}, False, False),
    ("two entries deleted at once", [], (), set(), False, True),
    ("an entry still configured but rendered nowhere", ALL, ("hf",), {"s3", "hf"}, False, True),
]


@pytest.mark.parametrize(("case", "wanted", "creds", "configured", "confirmed", "refused"),
                         GUARD, ids=[g[0] for g in GUARD])
def test_guard(case: str, wanted: list[str], creds: tuple[str, ...], configured: set[str],
               confirmed: bool, refused: bool) -> None:
    secrets, accounts = fleet(20)
    plan = prune.plan(wanting(wanted, creds), secrets, accounts, configured=configured,
                      max_fraction=0.1, confirmed=confirmed)
    assert plan.owned == 80
    assert (plan.refused is not None) is refused, plan.refused
    if refused:
        assert "sync.pruneMaxFraction (10%)" in (plan.refused or "")
        assert "--prune-confirm" in (plan.refused or "")


def test_accounts_come_first_and_a_failed_one_keeps_its_secret() -> None:
    secrets, accounts = fleet(2)
    plan = prune.plan(wanting([]), secrets, accounts, configured=set(), max_fraction=1.0)
    assert {(a.namespace, a.name) for a in plan.accounts} == set(accounts)
    assert all(a.verb == "patch" for a in plan.accounts)  # "theirs" stays
    # Every Secret is listed by its ServiceAccount: none goes before the accounts.
    assert plan.secrets == []
    assert {(i.action.namespace, i.action.name): i.by for i in plan.listed} == {
        (ns, f"{c}-secret"): {(ns, f"{c}-sa")} for ns in ("ns-0", "ns-1") for c in ("s3", "hf")}
    go, stay = prune.unlisted(plan, changed_accounts=set(accounts) - {("ns-0", "s3-sa")})
    assert {(a.namespace, a.name) for a in go} == set(secrets) - {("ns-0", "s3-secret")}
    assert [(i.action.name, i.by) for i in stay] == [("s3-secret", frozenset({("ns-0", "s3-sa")}))]


def test_a_secret_listed_by_no_account_goes_at_once() -> None:
    secrets, accounts = fleet(1)
    del accounts[("ns-0", "hf-sa")]
    plan = prune.plan(wanting([]), secrets, accounts, configured=set(), max_fraction=1.0)
    assert [(a.name, a.verb) for a in plan.secrets] == [("hf-secret", "delete")]
    assert [i.action.name for i in plan.listed] == ["s3-secret"]


def test_a_secret_waits_for_every_account_listing_it() -> None:
    """Listed by two accounts, or by an entry that is not ours (no step changes that
    account): it stays while any still lists it."""
    secrets, accounts = fleet(1)
    accounts[("ns-0", "team-sa")] = ObservedServiceAccount(
        namespace="ns-0", name="team-sa", uid="u", resource_version="1", labels=OURS,
        annotations={}, secrets=(), image_pull_secrets=("s3-secret",))
    plan = prune.plan(wanting([]), secrets, accounts, configured=set(), max_fraction=1.0)
    assert ("ns-0", "team-sa") not in {(a.namespace, a.name) for a in plan.accounts}
    go, stay = prune.unlisted(plan, {(a.namespace, a.name) for a in plan.accounts})
    assert [a.name for a in go] == ["hf-secret"]
    assert [(i.action.name, i.by) for i in stay] == [
        ("s3-secret", frozenset({("ns-0", "s3-sa"), ("ns-0", "team-sa")}))]


def test_a_secret_we_do_not_own_is_never_pruned() -> None:
    secrets, accounts = fleet(1)
    theirs = secret("ns-0", "s3-secret", "s3")
    secrets[("ns-0", "s3-secret")] = ObservedSecret(
        namespace="ns-0", name="s3-secret", uid="u", resource_version="1", type="Opaque",
        labels={}, annotations=theirs.annotations, key_digests={"K": "d"})
    plan = prune.plan(wanting([]), secrets, accounts, configured=set(), max_fraction=1.0)
    assert ("ns-0", "s3-secret") not in {(a.namespace, a.name) for a in plan.secrets}
    assert plan.owned == 3


def test_shared_keys_of_a_deleted_entry_count_but_are_allowed() -> None:
    """s3 wrote s3-secret and key m of storage-config (shared with hf); deleting the
    s3 entry removes both without confirmation, and the key counts for the guard."""
    s3 = secret("ns-0", "s3-secret", "s3")
    shared = ObservedSecret(namespace="ns-0", name="storage-config", uid="u",
                            resource_version="1", type="Opaque", labels=OURS,
                            annotations={ANN_OWNERSHIP: "keys", ANN_CREDENTIALS: "hf,s3",
                                         ANN_MANAGED_KEYS: "HF_TOKEN,m"},
                            key_digests={"HF_TOKEN": "d", "m": "d", "theirs": "d"})
    want = render.Rendered()
    want.secrets[("ns-0", "storage-config")] = DesiredSecret(
        namespace="ns-0", name="storage-config", shared=True, credentials={"hf"},
        keys={"HF_TOKEN": KeyValue(SecretValue("hf-token-value"), "hf", "s/hf@1")})
    secrets = {("ns-0", "s3-secret"): s3, ("ns-0", "storage-config"): shared}
    plan = prune.plan(want, secrets, {}, configured={"hf"}, max_fraction=0.1)
    assert plan.size == 2 and plan.refused is None
    # The same stale key with s3 still configured (its storageConfig.key renamed): guarded.
    plan = prune.plan(want, {("ns-0", "storage-config"): shared}, {},
                      configured={"hf", "s3"}, max_fraction=0.1)
    assert plan.size == 1 and plan.refused is not None
