"""Leader election (syncer/leader.py) on an in-memory Lease store with the API
server's optimistic concurrency, and a clock the test moves by hand."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from syncer.errors import KubeConflict, KubeError
from syncer.leader import LeaderElector


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Leases:
    """One Lease, updated only with the resourceVersion last read (409 otherwise)."""

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None
        self.version = 0
        self.down = False

    def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        if self.down:
            raise KubeError("get Lease: API server unreachable")
        return copy.deepcopy(self.lease)

    def _store(self, body: dict[str, Any]) -> None:
        self.version += 1
        self.lease = copy.deepcopy(body)
        self.lease["metadata"]["resourceVersion"] = str(self.version)

    def create_lease(self, namespace: str, body: dict[str, Any]) -> None:
        if self.lease is not None:
            raise KubeConflict("create Lease: AlreadyExists", status=409)
        self._store(body)

    def replace_lease(self, namespace: str, name: str, body: dict[str, Any]) -> None:
        if self.down:
            raise KubeError("update Lease: API server unreachable")
        if body["metadata"].get("resourceVersion") != str(self.version):
            raise KubeConflict("update Lease: Conflict", status=409)
        self._store(body)

    @property
    def holder(self) -> str:
        return str(((self.lease or {}).get("spec") or {}).get("holderIdentity", ""))


def elector(leases: Leases, clock: Clock, identity: str) -> LeaderElector:
    return LeaderElector(leases, namespace="ns", identity=identity, lease_duration=15,
                         renew_deadline=10, retry_period=2, clock=clock)


@pytest.fixture
def world() -> tuple[Leases, Clock]:
    return Leases(), Clock()


def test_first_candidate_creates_the_lease_and_leads(world: tuple[Leases, Clock]) -> None:
    leases, clock = world
    a = elector(leases, clock, "a")
    assert a.try_acquire_or_renew() is True
    assert leases.holder == "a"
    assert a.try_acquire_or_renew() is True  # renews its own lease


def test_standby_waits_a_full_lease_duration_of_silence(world: tuple[Leases, Clock]) -> None:
    leases, clock = world
    a, b = elector(leases, clock, "a"), elector(leases, clock, "b")
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()  # b first sees a's renewTime now
    clock.now += 14
    assert not b.try_acquire_or_renew()
    clock.now += 2  # 16 s of an unchanged renewTime on b's own clock: expired
    assert b.try_acquire_or_renew()
    assert leases.holder == "b"
    assert leases.lease is not None and leases.lease["spec"]["leaseTransitions"] == 1


@pytest.mark.parametrize(("renew_every", "b_takes_over"), [(5, False), (14, False), (20, True)])
def test_renewals_keep_the_standby_out(world: tuple[Leases, Clock], renew_every: int,
                                       b_takes_over: bool) -> None:
    """The holder renews every ``renew_every`` s and the standby polls every 2 s, for
    a minute: it takes over only if 15 s pass without a renewal."""
    leases, clock = world
    a, b = elector(leases, clock, "a"), elector(leases, clock, "b")
    a.try_acquire_or_renew()
    for second in range(1, 61):
        clock.now += 1
        if second % renew_every == 0 and leases.holder == "a":
            a.try_acquire_or_renew()
        if second % 2 == 0:
            b.try_acquire_or_renew()
    assert (leases.holder == "b") is b_takes_over


def test_leadership_ends_at_the_renew_deadline_without_a_renewal(
        world: tuple[Leases, Clock]) -> None:
    leases, clock = world
    a = elector(leases, clock, "a")
    a._set_leading(a.try_acquire_or_renew())
    assert a.is_leader
    leases.down = True
    clock.now += 9
    assert a.try_acquire_or_renew() is True  # last renewal still within 10 s
    clock.now += 2
    assert a.try_acquire_or_renew() is False
    assert not a.is_leader


def test_release_hands_over_at_once(world: tuple[Leases, Clock]) -> None:
    leases, clock = world
    a, b = elector(leases, clock, "a"), elector(leases, clock, "b")
    a._set_leading(a.try_acquire_or_renew())
    assert not b.try_acquire_or_renew()
    a.stop(release=True)
    assert leases.holder == "" and not a.is_leader
    assert b.try_acquire_or_renew()


def test_two_standbys_racing_for_an_expired_lease_one_wins(
        world: tuple[Leases, Clock]) -> None:
    leases, clock = world
    a, b, c = (elector(leases, clock, n) for n in "abc")
    a.try_acquire_or_renew()
    b.try_acquire_or_renew()
    c.try_acquire_or_renew()
    clock.now += 16
    # b and c both read the expired lease before either writes.
    read = leases.get_lease

    def stale_read(namespace: str, name: str) -> dict[str, Any] | None:
        return snapshot

    snapshot = read("ns", "kserve-vault-sync")
    leases.get_lease = stale_read  # type: ignore[method-assign]
    results = [b.try_acquire_or_renew(), c.try_acquire_or_renew()]
    assert sorted(results) == [False, True]
    assert leases.holder in {"b", "c"}


def test_a_slow_read_does_not_make_the_holder_look_dead_early(
        world: tuple[Leases, Clock]) -> None:
    """The standby's read is in flight for 9 s, and the holder renews meanwhile. The
    holder may write until 10 s after that renewal; the standby must wait 15 s
    from when its read returned, not from when it was sent."""
    leases, clock = world
    a, b = elector(leases, clock, "a"), elector(leases, clock, "b")
    a.try_acquire_or_renew()
    read = leases.get_lease

    def slow_read(namespace: str, name: str) -> dict[str, Any] | None:
        leases.get_lease = read  # type: ignore[method-assign]
        clock.now += 9
        a.try_acquire_or_renew()  # renewed while b's request is in flight
        return read(namespace, name)

    leases.get_lease = slow_read  # type: ignore[method-assign]
    assert not b.try_acquire_or_renew()
    renewed = clock.now
    # a dies now; it could still be writing until renewed + 10.
    clock.now = renewed + 14.5
    assert not b.try_acquire_or_renew()
    clock.now = renewed + 15.5
    assert b.try_acquire_or_renew()
