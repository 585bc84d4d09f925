"""AwsKeys: one lease per credential across cycles and restarts, with Vault and
the lease store replaced by small fakes that follow the real servers' rules
(a renewal never passes the max TTL; a store write as of an old version is a 409)."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from syncer import awskeys, awsread, render
from syncer.errors import KubeConflict, KubeError, VaultError, VaultLeaseGone
from syncer.leasestore import LeaseStore
from syncer.loader import parse
from syncer.model import DesiredSecret
from syncer.outcome import DesiredState, ObjectResult, Summary
from syncer.secretvalue import SecretValue
from syncer.settings import Config
from syncer.vault.aws import Issued, LeaseInfo
from syncer.vault.login import TokenState
from tests.unit.configs import aws, cfg

TTL, MAX_TTL = 60.0, 200.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeEngine:
    """Vault's lease rules: a lease ends at issue + TTL unless renewed, never after
    issue + max TTL; an unknown lease is a 400 (VaultLeaseGone)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.live: dict[str, tuple[float, float]] = {}  # id -> (issued, expires)
        self.by_token: dict[str, int] = {}  # lease id -> the login that issued it
        self.calls: list[str] = []
        self.fail_issue = False
        self.count = 0
        # The reader's token: a root token by default (never ends).
        self.login, self.token_ttl, self.token_max = 1, 0.0, 0.0
        self.login_at = clock.now
        self.logins = {1: clock.now}  # login -> when

    def token(self) -> TokenState:
        if not self.token_ttl:
            return TokenState(self.login, None, False)
        end = min(self.login_at + self.token_max, self.clock.now + self.token_ttl)
        return TokenState(self.login, end, end == self.login_at + self.token_max)

    def relogin(self) -> bool:
        self.calls.append("login")
        self.login, self.login_at = self.login + 1, self.clock.now
        self.logins[self.login] = self.clock.now
        return True

    def end_tokens(self) -> None:
        """Tokens past their max TTL end, and Vault revokes every lease each issued."""
        for lease_id, login in self.by_token.items():
            if self.token_max and self.logins[login] + self.token_max <= self.clock.now:
                self.live.pop(lease_id, None)

    def _alive(self, lease_id: str) -> tuple[float, float]:
        issued, expires = self.live.get(lease_id, (0.0, 0.0))
        if expires <= self.clock():
            self.live.pop(lease_id, None)
            raise VaultLeaseGone("gone", status=400)
        return issued, expires

    def issue(self, mount: str, role: str) -> Issued:
        self.calls.append("issue")
        if self.fail_issue:
            raise VaultError("issue failed", status=500, transient=True)
        self.count += 1
        lease_id = f"{mount}/creds/{role}/{self.count}"
        self.live[lease_id] = (self.clock(), self.clock() + TTL)
        self.by_token[lease_id] = self.login
        return Issued(lease_id=lease_id, ttl=TTL, renewable=True,
                      access_key=SecretValue(f"AKIA{self.count}"),
                      secret_key=SecretValue(f"secret-{self.count}"))

    def renew(self, lease_id: str, increment: float) -> tuple[float, bool]:
        self.calls.append("renew")
        issued, _ = self._alive(lease_id)
        ttl = min(increment, issued + MAX_TTL - self.clock())
        self.live[lease_id] = (issued, self.clock() + ttl)
        return ttl, True

    def lookup(self, lease_id: str) -> LeaseInfo:
        self.calls.append("lookup")
        issued, expires = self._alive(lease_id)
        return LeaseInfo(ttl=expires - self.clock(), renewable=True, issued_at=issued)

    def revoke(self, lease_id: str) -> None:
        self.calls.append("revoke")
        self.live.pop(lease_id, None)


class FakeStateAPI:
    """The API server's rules for one Secret: PUT as of a stale resourceVersion is 409."""

    def __init__(self) -> None:
        self.obj: dict[str, Any] | None = None
        self.version = 0
        self.fail: KubeError | None = None

    def get_state_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.obj)

    def put_state_secret(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        if self.fail is not None:
            raise self.fail
        given = body["metadata"].get("resourceVersion", "")
        if given != (str(self.version) if self.obj else ""):
            raise KubeConflict("conflict", status=409)
        self.version += 1
        data = {k: base64.b64encode(v.reveal().encode()).decode()
                for k, v in body["data"].items()}
        self.obj = {"metadata": {"name": body["metadata"]["name"],
                                 "resourceVersion": str(self.version)}, "data": data}
        return copy.deepcopy(self.obj)


def config(**source: Any) -> Config:
    source = {"role": "reader", "overlap": "30s", "revokeAfter": "10s", **source}
    return parse(cfg([aws(**source)], sync={"interval": "10s", "jitter": 0}))


def keeper(engine: FakeEngine, api: FakeStateAPI, clock: Clock, **kw: Any) -> awskeys.AwsKeys:
    return awskeys.AwsKeys(engine, LeaseStore(api, namespace="kvs"), clock=clock, **kw)


def read(keys: awskeys.AwsKeys, conf: Config) -> tuple[str, str]:
    cred = conf.credentials[0]
    mount, path, kind, _ = render.source_key(conf, cred)
    data = awsread.reader(keys, conf, Unused()).read(mount, path, kind)
    return data.data["access_key"].reveal(), data.data["secret_key"].reveal()


class Unused:
    def read(self, *args: Any) -> Any:
        raise AssertionError("a leased key must not be read as a plain path")


def cycle(outcome: str = "unchanged", credential: str = "team-a-s3") -> Summary:
    desired = DesiredSecret(namespace="team-a", name="s3-secret", shared=False,
                            credentials={credential})
    rendered = render.Rendered(secrets={desired.ref: desired})
    return Summary(objects=[ObjectResult(kind="Secret", namespace="team-a", name="s3-secret",
                                         outcome=outcome)],  # type: ignore[arg-type]
                   desired=DesiredState(rendered, set()))


@pytest.fixture
def world() -> tuple[FakeEngine, FakeStateAPI, Clock]:
    clock = Clock()
    return FakeEngine(clock), FakeStateAPI(), clock


def test_one_lease_renewed_reissued_before_max_ttl_then_revoked(
        world: tuple[FakeEngine, FakeStateAPI, Clock]) -> None:
    engine, api, clock = world
    conf, keys = config(), keeper(*world)
    first = read(keys, conf)
    assert engine.calls == ["issue"] and len(engine.live) == 1 and api.version == 1
    seen = {first}
    # Every 10 s a cycle, for the lease's whole life: renewed, never two keys at once
    # except between a re-issue and the revocation of the old lease.
    for _ in range(30):
        clock.now += 10
        seen.add(read(keys, conf))
        keys.settle(cycle(), [])
        assert 1 <= len(engine.live) <= 2
        assert f"aws/creds/reader/{engine.count}" in engine.live  # the newest is alive
    assert engine.calls.count("renew") >= 4 and engine.calls.count("issue") >= 2
    assert engine.calls.count("revoke") == engine.count - 1  # every old lease revoked
    assert len(seen) == engine.count


def test_reissue_comes_overlap_before_the_max_ttl_and_revocation_waits_for_targets(
        world: tuple[FakeEngine, FakeStateAPI, Clock]) -> None:
    engine, _, clock = world
    conf, keys = config(), keeper(*world)
    first = read(keys, conf)
    while engine.count == 1:
        clock.now += 10
        key = read(keys, conf)
    # Issued while the first lease had at most overlap (30 s) + a cycle left.
    assert clock.now >= 1000 + MAX_TTL - 30 - 10 and key != first
    assert len(engine.live) == 2
    keys.settle(cycle("updated"), [])  # everywhere, but revokeAfter (10 s) not yet passed
    assert len(engine.live) == 2
    clock.now += 10
    read(keys, conf)
    keys.settle(cycle("error"), [])  # revokeAfter passed, but a target failed: it stays
    keys.settle(cycle("unchanged"), [("team-a", "s3-secret")])  # a restart pending: stays
    assert len(engine.live) == 2 and "revoke" not in engine.calls
    keys.settle(cycle("unchanged"), [])
    assert len(engine.live) == 1 and engine.calls.count("revoke") == 1


def test_a_restart_reuses_a_live_lease_and_revokes_a_retiring_one(
        world: tuple[FakeEngine, FakeStateAPI, Clock]) -> None:
    engine, api, clock = world
    conf = config()
    keys = keeper(*world)
    first = read(keys, conf)
    restarted = keeper(*world)  # same Vault, same store: a SIGKILL and a new process
    assert read(restarted, conf) == first and engine.count == 1
    while engine.count == 1:  # re-issued; the process dies before it revokes
        clock.now += 10
        read(restarted, conf)
    assert len(engine.live) == 2
    again = keeper(*world)
    assert read(again, conf) == read(restarted, conf)
    again.settle(cycle(), [])
    clock.now += 10
    read(again, conf)
    again.settle(cycle(), [])
    assert len(engine.live) == 1 and engine.count == 2  # nothing orphaned, nothing new
    # A lease revoked behind our back (or ended while we were down): a new one.
    engine.live.clear()
    fresh = keeper(*world)
    assert read(fresh, conf) != first and engine.count == 3 and api.version >= 3


def test_a_lease_the_store_cannot_record_is_revoked_at_once(
        world: tuple[FakeEngine, FakeStateAPI, Clock]) -> None:
    engine, api, _ = world
    conf, keys = config(), keeper(*world)
    api.fail = KubeError("API server unreachable")
    with pytest.raises(VaultError, match="new lease revoked, the lease store could not"):
        read(keys, conf)
    assert engine.calls == ["issue", "revoke"] and engine.live == {}
    api.fail = None
    read(keys, conf)
    assert len(engine.live) == 1


def test_two_writers_the_second_gives_its_lease_back(
        world: tuple[FakeEngine, FakeStateAPI, Clock]) -> None:
    engine, _, _ = world
    conf = config()
    daemon, once = keeper(*world), keeper(*world)
    once._book.load()  # both read the (empty) store
    read(daemon, conf)
    with pytest.raises(VaultError, match="could not record it"):
        read(once, conf)  # its create meets the daemon's Secret: 409
    assert len(engine.live) == 1
    assert read(once, conf) == read(daemon, conf)  # re-read the store: the same lease


def test_dry_run_and_failures_issue_nothing(world: tuple[FakeEngine, FakeStateAPI, Clock]
                                            ) -> None:
    engine, _, _ = world
    conf = config()
    with pytest.raises(VaultError, match="a dry run issues none"):
        read(keeper(*world, dry_run=True), conf)
    assert engine.calls == []
    engine.fail_issue = True
    with pytest.raises(VaultError, match="issue failed"):
        read(keeper(*world), conf)
    assert engine.calls == ["issue"]  # not retried: a lost answer may have made a key
    engine.fail_issue = False
    key = read(keeper(*world), conf)
    assert read(keeper(*world, dry_run=True), conf) == key  # a dry run shows the live key


def test_key_age_and_lease_counts_for_metrics(world: tuple[FakeEngine, FakeStateAPI, Clock]
                                              ) -> None:
    _, _, clock = world
    conf, keys = config(), keeper(*world)
    read(keys, conf)
    clock.now += 25
    ages, counts = keys.snapshot()
    assert ages == {"team-a-s3": 25} and counts == {"team-a-s3": (1, 0)}


def test_leases_are_reissued_under_a_fresh_token_before_theirs_ends(
        world: tuple[FakeEngine, FakeStateAPI, Clock]) -> None:
    """Vault revokes a token's leases when the token ends. A token renewable to 120 s:
    before it ends, the key is re-issued under a new login, and the old lease (which
    dies with its token anyway) is revoked once the new key is everywhere."""
    engine, _, clock = world
    engine.token_ttl, engine.token_max = 30.0, 120.0
    conf, keys = config(), keeper(*world)
    read(keys, conf)
    for _ in range(40):
        clock.now += 10
        engine.end_tokens()
        assert f"aws/creds/reader/{engine.count}" in engine.live  # the synced key still works
        read(keys, conf)
        keys.settle(cycle(), [])
    assert engine.calls.count("login") >= 3  # one per token lifetime, before it ended
    assert sorted(engine.by_token.values()) == list(range(1, engine.login + 1))


def test_a_restart_caps_stored_leases_at_their_tokens_end(
        world: tuple[FakeEngine, FakeStateAPI, Clock]) -> None:
    """After a restart nobody renews the old token: its stored end is final."""
    engine, _, clock = world
    engine.token_ttl, engine.token_max = 60.0, 3600.0
    conf = config()
    first = read(keeper(*world), conf)
    engine.relogin()  # the new process logs in: a new token
    restarted = keeper(*world)
    assert read(restarted, conf) == first  # reused while its token lives
    clock.now += 15  # the old token ends at +60: 45 s left, more than overlap + a cycle
    assert read(restarted, conf) == first
    clock.now += 15  # 30 s left: re-issue now, before the old token takes the lease along
    assert read(restarted, conf) != first and engine.count == 2


def test_an_entry_moved_to_another_role_retires_the_old_lease(
        world: tuple[FakeEngine, FakeStateAPI, Clock]) -> None:
    engine, _, clock = world
    keys = keeper(*world)
    first = read(keys, config())
    assert read(keys, config(role="other")) != first
    clock.now += 10
    keys.settle(cycle(), [])
    assert list(engine.live) == ["aws/creds/other/2"]
