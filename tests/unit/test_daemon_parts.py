"""The daemon's moving parts in isolation, with faults injected behind our own
interfaces: the write fence, the supervised repair worker, trigger handling."""

from __future__ import annotations

import threading
import time
from typing import Any, cast

from syncer import diff
from syncer.errors import KubeConflict, KubeError
from syncer.model import DesiredSecret, KeyValue, ObservedSecret
from syncer.outcome import DesiredState
from syncer.ports import KubePort
from syncer.render import Rendered
from syncer.repairer import RepairWorker
from syncer.secretvalue import SecretValue
from syncer.triggers import Triggers
from syncer.writer import Writer


class Kube:
    """Records writes; ``on_write`` may raise (a fault) or close a fence."""

    def __init__(self) -> None:
        self.writes: list[str] = []
        self.on_write: Any = None
        self.on_get: Any = None

    def _write(self, what: str) -> None:
        if self.on_write:
            self.on_write(what)
        self.writes.append(what)

    def create(self, kind: str, namespace: str, body: dict[str, Any]) -> None:
        self._write(f"create {namespace}/{body['metadata']['name']}")

    def patch(self, kind: str, namespace: str, name: str, body: dict[str, Any]) -> None:
        self._write(f"patch {namespace}/{name}")

    def delete(self, kind: str, namespace: str, name: str) -> None:
        self._write(f"delete {namespace}/{name}")

    def get_secret(self, namespace: str, name: str) -> ObservedSecret | None:
        if self.on_get:
            self.on_get()
        return None


def desired(name: str) -> DesiredSecret:
    return DesiredSecret(namespace="ns", name=name, shared=False, credentials={"c"},
                         keys={"K": KeyValue(SecretValue(f"value-of-{name}"), "c", "s/p@1")})


def creates(names: list[str]) -> list[tuple[DesiredSecret, None]]:
    return [(desired(n), None) for n in names]


def test_the_fence_stops_writes_mid_batch() -> None:
    """Leadership is lost after the second write: no later write starts."""
    kube = Kube()
    leading = {"yes": True}

    def after(what: str) -> None:
        if len(kube.writes) == 1:
            leading["yes"] = False

    kube.on_write = after
    # Writer types its client as the whole KubePort but writes with create, patch and
    # delete only: the fake has those (and get_secret for a conflict's re-read).
    writer = Writer(cast(KubePort, kube), 1,
                    lambda: None if leading["yes"] else "not the leader any more")
    results = writer.apply_all(creates(["a", "b", "c", "d"]),
                               lambda d, o: diff.diff_secret(d, o, now="t"),
                               lambda d: None)
    assert kube.writes == ["create ns/a", "create ns/b"]
    assert [r.outcome for r in results] == ["created", "created", "skipped", "skipped"]
    assert {r.reason for r in results[2:]} == {"not the leader any more"}


def test_a_failing_reread_after_a_conflict_is_an_error_not_a_crash() -> None:
    kube = Kube()

    def conflict(what: str) -> None:
        raise KubeConflict(f"{what}: HTTP 409 AlreadyExists", status=409)

    def broken() -> None:
        raise KubeError("get Secret ns/a: API server unreachable")

    kube.on_write, kube.on_get = conflict, broken
    # cast: as in test_the_fence_stops_writes_mid_batch
    [result] = Writer(cast(KubePort, kube), 1).apply_all(
        creates(["a"]), lambda d, o: diff.diff_secret(d, o, now="t"),
        lambda d: kube.get_secret(d.namespace, d.name))
    assert result.outcome == "error" and "unreachable" in result.reason


def worker(kube: Kube, last: DesiredState | None, **over: Any) -> tuple[RepairWorker,
                                                                        dict[str, int]]:
    counts = {"repaired": 0, "failed": 0, "restarted": 0, "resync": 0}
    args: dict[str, Any] = {
        "desired": lambda: last, "lock": threading.Lock(), "fence": lambda: None,
        "on_repaired": lambda results: counts.__setitem__("repaired",
                                                          counts["repaired"] + len(results)),
        "on_failure": lambda: counts.__setitem__("failed", counts["failed"] + 1),
        "on_restart": lambda: counts.__setitem__("restarted", counts["restarted"] + 1),
        "resync": lambda: counts.__setitem__("resync", counts["resync"] + 1)}
    args.update(over)
    return RepairWorker(kube, **args), counts  # type: ignore[arg-type]


def wait_for(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def state_with(*names: str) -> DesiredState:
    rendered = Rendered()
    for n in names:
        rendered.secrets[("ns", n)] = desired(n)
    return DesiredState(rendered, set())


def test_repair_worker_survives_a_failing_repair() -> None:
    """A write that raises something unexpected is counted; the next event repairs."""
    kube = Kube()
    calls = {"n": 0}

    def first_fails(what: str) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("unexpected")

    kube.on_write = first_fails
    repairs, counts = worker(kube, state_with("a", "b"))
    repairs.start()
    try:
        repairs.submit("Secret", "DELETED", desired("a"))
        repairs.submit("Secret", "DELETED", desired("b"))
        wait_for(lambda: counts["repaired"] == 1)
        assert counts["failed"] == 1 and repairs.alive() and kube.writes == ["create ns/b"]
    finally:
        repairs.stop()


def test_repair_worker_writes_nothing_without_leadership_or_state() -> None:
    kube = Kube()
    fenced, _ = worker(kube, state_with("a"), fence=lambda: "not the leader any more")
    fenced.handle("Secret", "DELETED", desired("a"))
    empty, _ = worker(kube, None)
    empty.handle("Secret", "DELETED", desired("a"))
    assert kube.writes == []


def test_a_dead_worker_is_restarted_then_given_up() -> None:
    now = {"t": 0.0}
    repairs, counts = worker(Kube(), None, max_restarts=2, clock=lambda: now["t"])
    assert repairs.supervise() is True  # not started yet: nothing to restart
    repairs.start()
    for _ in range(2):
        repairs.stop()
        wait_for(lambda: not repairs.alive())
        repairs._stop.clear()
        assert repairs.supervise() is True
    repairs.stop()
    wait_for(lambda: not repairs.alive())
    repairs._stop.clear()
    assert repairs.supervise() is False  # a third death within a minute: liveness fails
    assert counts["restarted"] == 2


def triggers(leading: bool = True) -> tuple[Triggers, list[str]]:
    ran: list[str] = []
    t = Triggers("tok", known=lambda: {"a", "b"}, leading=lambda: leading,
                 run_all=lambda: ran.append("all"), run_only=lambda: ran.append("only-job"),
                 retry_after=2.0, counted=lambda: None)
    return t, ran


def test_a_standby_refuses_triggers_with_retry_after() -> None:
    t, ran = triggers(leading=False)
    reply = t.http("tok", [])
    assert (reply.status, reply.retry_after) == (503, 2.0) and ran == []


def test_trigger_answers() -> None:
    t, ran = triggers()
    assert t.http("wrong", []).status == 401
    assert t.http("tok", ["nope"]).status == 400
    assert t.http("tok", []).status == 202 and ran == ["all"]


def test_only_triggers_fold_into_one_pending_job() -> None:
    t, ran = triggers()
    for names in (["a"], ["b"], ["a"], ["b"]):
        assert t.http("tok", names).status == 202
    assert ran == ["only-job"]  # one job however many requests
    assert t.take_only() == {"a", "b"}
    assert t.http("tok", ["a"]).status == 202 and ran == ["only-job", "only-job"]
