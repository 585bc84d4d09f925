"""imagePullSecrets on ServiceAccounts: ours in and out by name, every other entry kept.

The list is atomic in the API, so a patch carries it whole, with the
resourceVersion it was read at (a concurrent change is a 409, re-read and re-diffed).
"""

from __future__ import annotations

from typing import Any

from syncer import diff, prune, render
from syncer.model import (
    ANN_CREDENTIALS,
    ANN_MANAGED_PULL_SECRETS,
    ANN_MANAGED_SECRETS,
    ANN_OWNERSHIP,
    MANAGED_BY_LABEL,
    DesiredServiceAccount,
    ObservedSecret,
    ObservedServiceAccount,
)

OURS = {MANAGED_BY_LABEL: "kserve-vault-sync"}


def observed(pulls: tuple[str, ...], *, ours: str | None = None, secrets: tuple[str, ...] = (),
             ownership: str = "keys", managed_secrets: str | None = None
             ) -> ObservedServiceAccount:
    annotations = {ANN_OWNERSHIP: ownership}
    if ours is not None:
        annotations[ANN_MANAGED_PULL_SECRETS] = ours
    if managed_secrets is not None:
        annotations[ANN_MANAGED_SECRETS] = managed_secrets
    return ObservedServiceAccount(namespace="ns", name="models", uid="u", resource_version="42",
                                  labels=OURS if ours is not None or managed_secrets else {},
                                  annotations=annotations, secrets=secrets,
                                  image_pull_secrets=pulls)


def wanted(*pulls: str, secrets: tuple[str, ...] = ()) -> DesiredServiceAccount:
    return DesiredServiceAccount(namespace="ns", name="models", secrets=set(secrets),
                                 pull_secrets=frozenset(pulls))


def one(actions: list[diff.Action]) -> dict[str, Any]:
    [action] = actions
    assert action.body is not None
    return action.body


def test_a_new_account_lists_the_pull_secret_not_in_secrets() -> None:
    body = one(diff.diff_service_account(wanted("oci-pull"), None, available={"oci-pull"}))
    assert body["imagePullSecrets"] == [{"name": "oci-pull"}] and "secrets" not in body
    assert body["metadata"]["annotations"] == {ANN_OWNERSHIP: "object",
                                               ANN_MANAGED_PULL_SECRETS: "oci-pull"}


def test_a_pull_secret_that_does_not_exist_yet_is_not_listed() -> None:
    assert diff.diff_service_account(wanted("oci-pull"), None, available=set()) == []


def test_an_existing_list_is_sent_whole_with_the_version_it_was_read_at() -> None:
    body = one(diff.diff_service_account(wanted("oci-pull"), observed(("theirs",)),
                                         available={"oci-pull"}))
    assert body["imagePullSecrets"] == [{"name": "theirs"}, {"name": "oci-pull"}]
    assert body["metadata"]["resourceVersion"] == "42"
    assert body["metadata"]["annotations"][ANN_MANAGED_PULL_SECRETS] == "oci-pull"
    assert body["metadata"]["annotations"][ANN_OWNERSHIP] == "keys"


def test_nothing_to_do_is_no_write() -> None:
    assert diff.diff_service_account(wanted("oci-pull"),
                                     observed(("theirs", "oci-pull"), ours="oci-pull"),
                                     available={"oci-pull"}) == []


def test_a_removed_entry_comes_back_and_others_stay() -> None:
    """Drift: someone dropped our entry; we put it back beside theirs."""
    body = one(diff.diff_service_account(wanted("oci-pull"), observed(("a", "b"),
                                                                      ours="oci-pull"),
                                         available={"oci-pull"}))
    assert body["imagePullSecrets"] == [{"name": "a"}, {"name": "b"}, {"name": "oci-pull"}]


def test_secrets_and_pull_secrets_in_one_patch() -> None:
    body = one(diff.diff_service_account(
        wanted("oci-pull", secrets=("s3-secret",)), observed((), secrets=("x",)),
        available={"oci-pull", "s3-secret"}))
    assert body["secrets"] == [{"name": "s3-secret"}]
    assert body["imagePullSecrets"] == [{"name": "oci-pull"}]
    ann = body["metadata"]["annotations"]
    assert (ann[ANN_MANAGED_SECRETS], ann[ANN_MANAGED_PULL_SECRETS]) == ("s3-secret", "oci-pull")


def test_prune_removes_only_our_entry_with_the_version_it_read() -> None:
    action = diff.prune_service_account(observed(("theirs", "oci-pull"), ours="oci-pull"),
                                        set(), frozenset())
    assert action is not None and action.verb == "patch" and action.body is not None
    assert action.body["imagePullSecrets"] == [{"name": "theirs"}]
    assert action.body["metadata"]["resourceVersion"] == "42"
    assert action.body["metadata"]["annotations"] == {ANN_MANAGED_PULL_SECRETS: None}
    assert "secrets" not in action.body


def test_prune_deletes_an_account_we_created_once_it_is_empty() -> None:
    ours = observed(("oci-pull",), ours="oci-pull", ownership="object")
    action = diff.prune_service_account(ours, set(), frozenset())
    assert action is not None and action.verb == "delete"
    kept = diff.prune_service_account(ours, set(), frozenset({"oci-pull"}))
    assert kept is None


def test_prune_keeps_an_account_we_created_that_still_lists_another() -> None:
    ours = observed(("oci-pull",), ours="oci-pull", ownership="object", secrets=("s3-secret",),
                    managed_secrets="s3-secret")
    action = diff.prune_service_account(ours, {"s3-secret"}, frozenset())
    assert action is not None and action.verb == "patch"


def test_the_prune_plan_unlists_a_pull_secret_before_deleting_it() -> None:
    account = observed(("oci-pull",), ours="oci-pull", ownership="object")
    pull = ObservedSecret(namespace="ns", name="oci-pull", uid="u", resource_version="1",
                          type="kubernetes.io/dockerconfigjson", labels=OURS,
                          annotations={ANN_OWNERSHIP: "object", ANN_CREDENTIALS: "oci"},
                          key_digests={".dockerconfigjson": "d"})
    plan = prune.plan(render.Rendered(), {("ns", "oci-pull"): pull},
                      {("ns", "models"): account}, configured=set(), max_fraction=1.0)
    [step] = plan.accounts
    assert step.verb == "delete" and step.name == "models"
    assert plan.secrets == []
    assert prune.unlisted(plan, set())[0] == []  # the account's write failed: it stays
    assert [a.name for a in prune.unlisted(plan, {("ns", "models")})[0]] == ["oci-pull"]
