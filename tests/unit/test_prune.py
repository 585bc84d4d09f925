"""Prune planning (syncer/prune.py): the order that keeps KServe's webhook happy
and the guard that refuses to remove a large share of the fleet at once."""

from __future__ import annotations

import pytest

from syncer import prune, render
from syncer.model import (
    ANN_CREDENTIALS,
    ANN_MANAGED_KEYS,
    ANN_MANAGED_PULL_SECRETS,
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


def whole(name: str, creds: str | None) -> tuple[Ref, ObservedSecret]:
    annotations = {ANN_OWNERSHIP: "object"}
    if creds is not None:
        annotations[ANN_CREDENTIALS] = creds
    return ("ns-0", name), ObservedSecret(
        namespace="ns-0", name=name, uid="u", resource_version="1", type="Opaque",
        labels=OURS, annotations=annotations, key_digests={"K": "d"})


def keys_of(name: str, creds: str, managed: str, data: tuple[str, ...] = ("HF_TOKEN", "m"),
            labels: dict[str, str] | None = None) -> tuple[Ref, ObservedSecret]:
    return ("ns-0", name), ObservedSecret(
        namespace="ns-0", name=name, uid="u", resource_version="1", type="Opaque",
        labels=OURS if labels is None else labels,
        annotations={ANN_OWNERSHIP: "keys", ANN_CREDENTIALS: creds, ANN_MANAGED_KEYS: managed},
        key_digests={k: "d" for k in data})


def shared_wants(*names: str, owned_first: bool = False) -> render.Rendered:
    """Each named storage-spec Secret wants HF_TOKEN from hf; optionally after an owned one."""
    out = render.Rendered()
    if owned_first:
        out.secrets[("ns-0", "owned")] = DesiredSecret(namespace="ns-0", name="owned",
                                                       shared=False)
    for name in names:
        out.secrets[("ns-0", name)] = DesiredSecret(
            namespace="ns-0", name=name, shared=True, credentials={"hf"},
            keys={"HF_TOKEN": KeyValue(SecretValue("hf-token-value"), "hf", "s/hf@1")})
    return out


SIZES: list[tuple[str, render.Rendered, list[tuple[Ref, ObservedSecret]], int, bool]] = [
    # (case, rendered, observed Secrets (configured: hf and kept), plan size, refused)
    ("a Secret written by a configured and a deleted entry is guarded",
     render.Rendered(), [whole("a", "kept,gone")], 1, True),
    ("a configured writer earlier is not forgotten by a deleted one later",
     render.Rendered(), [whole("a", "kept"), whole("b", "gone")], 2, True),
    ("our keys in a shared Secret no entry wants: allowed for one deleted writer",
     render.Rendered(), [keys_of("sc", "hf,s3", "HF_TOKEN,m")], 1, False),
    ("a Secret without a writer on record is guarded",
     render.Rendered(), [whole("a", None)], 1, True),
    ("stale keys counted in every shared Secret, after an owned one",
     shared_wants("sc1", "sc2", owned_first=True),
     [keys_of("sc1", "hf,s3", "HF_TOKEN,m"), keys_of("sc2", "hf,s3", "HF_TOKEN,m")], 2, False),
    ("a stale key already gone from the data is not counted",
     shared_wants("sc"), [keys_of("sc", "hf,s3", "HF_TOKEN,m", data=("HF_TOKEN",))], 0, False),
    ("a storage-spec Secret not created yet, or not ours, counts nothing",
     shared_wants("new", "theirs"), [keys_of("theirs", "s3", "m", labels={})], 0, False),
    ("two deleted entries, one whole Secret and one shared key, are guarded",
     shared_wants("sc"), [whole("a", "old"), keys_of("sc", "hf,s3", "HF_TOKEN,m")], 2, True),
    ("a configured writer's whole Secret, then a deleted one's key: guarded",
     shared_wants("sc"), [whole("a", "kept"), keys_of("sc", "hf,s3", "HF_TOKEN,m")], 2, True),
    ("a deleted entry's key alone: allowed",
     shared_wants("sc"), [keys_of("sc", "hf,s3", "HF_TOKEN,m")], 1, False),
]


@pytest.mark.parametrize(("case", "rendered", "observed", "size", "refused"), SIZES,
                         ids=[s[0] for s in SIZES])
def test_guard_counts_and_writers(case: str, rendered: render.Rendered,
                                  observed: list[tuple[Ref, ObservedSecret]], size: int,
                                  refused: bool) -> None:
    plan = prune.plan(rendered, dict(observed), {}, configured={"hf", "kept"},
                      max_fraction=0.01)
    assert (plan.size, plan.refused is not None) == (size, refused), plan.refused


def test_exactly_the_limit_is_allowed() -> None:
    secrets, accounts = fleet(2)
    plan = prune.plan(wanting(["ns-0"]), secrets, accounts, configured={"s3", "hf"},
                      max_fraction=0.5)
    assert (plan.size, plan.owned, plan.refused) == (4, 8, None)


def test_wanted_and_held_pull_secrets_are_kept() -> None:
    sa = ObservedServiceAccount(namespace="ns-0", name="sa", uid="u", resource_version="1",
                                labels=OURS, annotations={
                                    ANN_OWNERSHIP: "object",
                                    ANN_MANAGED_PULL_SECRETS: "p,q"},
                                secrets=(), image_pull_secrets=("p", "q"))
    want = render.Rendered()
    want.service_accounts[("ns-0", "sa")] = DesiredServiceAccount(
        namespace="ns-0", name="sa", pull_secrets=frozenset({"p"}),
        held_pull_secrets=frozenset({"q"}))
    plan = prune.plan(want, {}, {("ns-0", "sa"): sa}, configured=set(), max_fraction=1.0)
    assert plan.accounts == []
