"""The watch cache (syncer/cache.py): trusted only while both watches are."""

from __future__ import annotations

from syncer.cache import WatchCache
from syncer.model import MANAGED_BY_LABEL, ObservedSecret

OURS = {MANAGED_BY_LABEL: "kserve-vault-sync"}


def secret(name: str, *, ours: bool = True, version: str = "1") -> ObservedSecret:
    return ObservedSecret(namespace="ns", name=name, uid="u", resource_version=version,
                          type="Opaque", labels=OURS if ours else {}, annotations={},
                          key_digests={})


def test_ready_only_when_both_kinds_listed() -> None:
    cache = WatchCache()
    assert cache.snapshot() is None
    cache.reset("Secret", {("ns", "a"): secret("a")})
    assert cache.snapshot() is None
    cache.reset("ServiceAccount", {})
    snap = cache.snapshot()
    assert snap is not None and set(snap[0]) == {("ns", "a")}


def test_events_keep_it_current_and_a_broken_watch_distrusts_it() -> None:
    cache = WatchCache()
    cache.reset("Secret", {("ns", "a"): secret("a")})
    cache.reset("ServiceAccount", {})
    cache.apply("Secret", "ADDED", secret("b"))
    cache.apply("Secret", "MODIFIED", secret("a", version="2"))
    cache.apply("Secret", "MODIFIED", secret("b", ours=False))  # no longer ours
    snap = cache.snapshot()
    assert snap is not None and list(snap[0]) == [("ns", "a")]
    assert snap[0][("ns", "a")].resource_version == "2"
    cache.apply("Secret", "DELETED", secret("a"))
    snap = cache.snapshot()
    assert snap is not None and snap[0] == {}
    cache.lost("ServiceAccount")
    assert cache.snapshot() is None
    cache.apply("ServiceAccount", "ADDED", secret("x"))  # ignored until it lists again
    cache.reset("ServiceAccount", {})
    snap = cache.snapshot()
    assert snap is not None and snap[1] == {}
