"""Diff: what to write, key by key, and when to refuse. Table-driven, no I/O."""

from __future__ import annotations

from typing import Any

import pytest

from syncer import diff
from syncer.model import (
    ANN_HASH,
    ANN_MANAGED_KEYS,
    ANN_MANAGED_SECRETS,
    ANN_OWNERSHIP,
    ANN_SOURCE,
    MANAGED_BY_LABEL,
    DesiredSecret,
    DesiredServiceAccount,
    KeyValue,
    ObservedSecret,
    ObservedServiceAccount,
)
from syncer.secretvalue import SecretValue

NOW = "2026-11-25T00:00:00Z"
OURS = {MANAGED_BY_LABEL: "kserve-vault-sync"}


def kv(value: str) -> KeyValue:
    return KeyValue(SecretValue(value), "cred", "secret/p@2")


def desired(shared: bool = False, adopt: bool = False, **keys: str) -> DesiredSecret:
    return DesiredSecret(namespace="ns", name="storage-config" if shared else "s3-secret",
                         shared=shared, keys={k: kv(v) for k, v in keys.items()},
                         annotations={} if shared else {"serving.kserve.io/s3-region": "r"},
                         adopt=adopt, credentials={"cred"})


def observed_from(d: DesiredSecret, *, extra: dict[str, str] | None = None,
                  labels: dict[str, str] | None = None, **changes: Any) -> ObservedSecret:
    """What the cluster holds after we wrote ``d`` (optionally altered)."""
    action = diff.diff_secret(d, None, now=NOW)[0]
    assert action.body is not None
    ann = {k: v for k, v in action.body["metadata"]["annotations"].items()}
    digests = {k: v.sha for k, v in action.body["data"].items()}
    digests.update({k: SecretValue(v).sha for k, v in (extra or {}).items()})
    return ObservedSecret(namespace="ns", name=d.name, uid="uid", resource_version="1",
                          type=changes.get("type", "Opaque"),
                          labels=OURS if labels is None else labels,
                          annotations=changes.get("annotations", ann),
                          key_digests=changes.get("digests", digests))


class TestOwnedSecret:
    def test_missing_is_created(self) -> None:
        [action] = diff.diff_secret(desired(A="1", B="2"), None, now=NOW)
        assert action.verb == "create" and action.body is not None
        assert set(action.body["data"]) == {"A", "B"}
        assert action.body["metadata"]["labels"] == OURS
        assert action.body["metadata"]["annotations"]["serving.kserve.io/s3-region"] == "r"

    def test_no_change_no_write(self) -> None:
        d = desired(A="1", B="2")
        assert diff.diff_secret(d, observed_from(d), now="later") == []

    def test_value_change_patches_only_that_key(self) -> None:
        d = desired(A="1", B="2")
        [action] = diff.diff_secret(desired(A="1", B="3"), observed_from(d), now=NOW)
        assert action.verb == "patch" and action.content_changed
        assert action.body is not None and set(action.body["data"]) == {"B"}

    def test_hand_edit_is_seen_even_with_our_hash_intact(self) -> None:
        d = desired(A="1")
        obs = observed_from(d, digests={"A": SecretValue("tampered").sha})
        [action] = diff.diff_secret(d, obs, now=NOW)
        assert action.verb == "patch" and action.body is not None and "A" in action.body["data"]
        assert diff.observed_drift(obs)

    def test_stale_key_is_removed(self) -> None:
        d = desired(A="1")
        [action] = diff.diff_secret(d, observed_from(d, extra={"OLD": "x"}), now=NOW)
        assert action.body is not None and action.body["data"] == {"OLD": None}

    @pytest.mark.parametrize("labels", [{}, {"app": "other"}])
    def test_unowned_is_a_conflict(self, labels: dict[str, str]) -> None:
        d = desired(A="1")
        [action] = diff.diff_secret(d, observed_from(d, labels=labels), now=NOW)
        assert action.verb == "conflict" and "adopt: true" in action.reason

    def test_adopt_takes_over(self) -> None:
        d = desired(adopt=True, A="1")
        [action] = diff.diff_secret(d, observed_from(d, labels={}, annotations={}), now=NOW)
        assert action.verb == "patch" and action.reason.startswith("adopted")
        assert action.body is not None
        assert action.body["metadata"]["labels"] == OURS

    def test_immutable_type_is_a_conflict(self) -> None:
        d = desired(A="1")
        [action] = diff.diff_secret(d, observed_from(d, type="kubernetes.io/tls"), now=NOW)
        assert action.verb == "conflict" and "immutable" in action.reason

    def test_held_entry_writes_nothing(self) -> None:
        """Every credential of the Secret failed this cycle: whatever the cluster holds
        (here the last good values) is left exactly as it is, and nothing is created."""
        obs = observed_from(desired(A="1", B="2"))
        held = desired()
        held.held_keys = frozenset({"A", "B"})
        assert diff.diff_secret(held, obs, now=NOW, prune=True) == []
        assert diff.diff_secret(held, None, now=NOW) == []


class TestSharedSecret:
    def hand_made(self, **keys: str) -> ObservedSecret:
        return ObservedSecret(namespace="ns", name="storage-config", uid="uid",
                              resource_version="1", type="Opaque", labels={}, annotations={},
                              key_digests={k: SecretValue(v).sha for k, v in keys.items()})

    def test_adds_our_keys_to_a_hand_made_secret(self) -> None:
        [action] = diff.diff_secret(desired(shared=True, HF_TOKEN="t"),
                                    self.hand_made(other="x"), now=NOW)
        assert action.verb == "patch" and action.body is not None
        assert set(action.body["data"]) == {"HF_TOKEN"}  # "other" never sent
        ann = action.body["metadata"]["annotations"]
        assert ann[ANN_MANAGED_KEYS] == "HF_TOKEN" and ann[ANN_OWNERSHIP] == "keys"

    def test_foreign_key_of_our_name_is_a_conflict(self) -> None:
        actions = diff.diff_secret(desired(shared=True, HF_TOKEN="t", team="j"),
                                   self.hand_made(HF_TOKEN="mine"), now=NOW)
        verbs = sorted(a.verb for a in actions)
        assert verbs == ["conflict", "patch"]
        patch = next(a for a in actions if a.verb == "patch")
        assert patch.body is not None and set(patch.body["data"]) == {"team"}

    def test_adopt_takes_the_key(self) -> None:
        [action] = diff.diff_secret(desired(shared=True, adopt=True, HF_TOKEN="t"),
                                    self.hand_made(HF_TOKEN="mine"), now=NOW)
        assert action.verb == "patch"

    def test_no_op_and_prune(self) -> None:
        d = desired(shared=True, HF_TOKEN="t", gone="g")
        obs = observed_from(d, extra={"other": "x"})
        assert diff.diff_secret(desired(shared=True, HF_TOKEN="t", gone="g"), obs, now=NOW) == []
        # "gone" left the config: kept (still ours, still hashed) without prune, removed
        # with it. "other" is never touched.
        assert diff.diff_secret(desired(shared=True, HF_TOKEN="t"), obs, now=NOW) == []
        [pruned] = diff.diff_secret(desired(shared=True, HF_TOKEN="t"), obs, now=NOW, prune=True)
        assert pruned.body is not None and pruned.body["data"] == {"gone": None}
        assert pruned.body["metadata"]["annotations"][ANN_MANAGED_KEYS] == "HF_TOKEN"


    def test_held_key_survives_prune(self) -> None:
        """A key whose credential failed this cycle is kept, even with prune on; a key
        no entry wants any more is pruned in the same patch."""
        obs = observed_from(desired(shared=True, HF_TOKEN="t", models="spec", gone="g"))
        now = desired(shared=True, HF_TOKEN="t")
        now.held_keys = frozenset({"models"})
        [patch] = diff.diff_secret(now, obs, now=NOW, prune=True)
        assert patch.body is not None and patch.body["data"] == {"gone": None}
        assert patch.body["metadata"]["annotations"][ANN_MANAGED_KEYS] == "HF_TOKEN,models"


class TestServiceAccount:
    def sa(self, secrets: tuple[str, ...], managed: bool = True, mine: str = "") -> (
            ObservedServiceAccount):
        return ObservedServiceAccount(
            namespace="ns", name="sa", uid="uid", resource_version="1",
            labels=OURS if managed else {},
            annotations={ANN_MANAGED_SECRETS: mine, ANN_OWNERSHIP: "object"} if managed else {},
            secrets=secrets)

    def test_created_only_for_available_secrets(self) -> None:
        d = DesiredServiceAccount(namespace="ns", name="sa", secrets={"s3-secret", "held"})
        [action] = diff.diff_service_account(d, None, available={"s3-secret"})
        assert action.body is not None and action.body["secrets"] == [{"name": "s3-secret"}]
        assert diff.diff_service_account(d, None, available=set()) == []

    def test_existing_entries_are_kept(self) -> None:
        d = DesiredServiceAccount(namespace="ns", name="sa", secrets={"s3-secret"})
        [action] = diff.diff_service_account(d, self.sa(("theirs",), managed=False),
                                             available={"s3-secret"})
        # Strategic merge by name: only our entry is sent; "theirs" stays.
        assert action.body is not None and action.body["secrets"] == [{"name": "s3-secret"}]
        assert action.body["metadata"]["annotations"][ANN_OWNERSHIP] == "keys"

    def test_no_op(self) -> None:
        d = DesiredServiceAccount(namespace="ns", name="sa", secrets={"s3-secret"})
        obs = self.sa(("theirs", "s3-secret"), mine="s3-secret")
        assert diff.diff_service_account(d, obs, available={"s3-secret"}) == []

    def test_prune_removes_only_our_entries(self) -> None:
        obs = self.sa(("theirs", "s3-secret"), mine="s3-secret")
        action = diff.prune_service_account(obs, keep=set())
        assert action is not None and action.body is not None
        assert action.body["secrets"] == [{"name": "s3-secret", "$patch": "delete"}]
        only_ours = self.sa(("s3-secret",), mine="s3-secret")
        deleted = diff.prune_service_account(only_ours, keep=set())
        assert deleted is not None and deleted.verb == "delete"


def test_data_hash_tracks_content_only() -> None:
    a, b = desired(A="1"), desired(A="1")
    assert diff.data_hash(a) == diff.data_hash(b)
    assert diff.data_hash(a) != diff.data_hash(desired(A="2"))
    [create] = diff.diff_secret(a, None, now=NOW)
    assert create.body is not None
    assert create.body["metadata"]["annotations"][ANN_HASH] == diff.data_hash(a)
    assert create.body["metadata"]["annotations"][ANN_SOURCE] == "secret/p@2"
