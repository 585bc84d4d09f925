"""Kubernetes Events (syncer/events.py): which results become events, and the
recorder's aggregation and limits - with an in-memory Events API."""

from __future__ import annotations

from typing import Any

import pytest

from syncer import events
from syncer.errors import KubeForbidden
from syncer.model import EntryError
from syncer.outcome import ObjectResult, Summary


class Api:
    def __init__(self, forbidden: set[str] | None = None) -> None:
        self.created: list[dict[str, Any]] = []
        self.patched: list[tuple[str, dict[str, Any]]] = []
        self.forbidden = forbidden or set()

    def create_event(self, namespace: str, body: dict[str, Any]) -> str:
        if namespace in self.forbidden:
            raise KubeForbidden("create Event: HTTP 403 Forbidden", status=403)
        self.created.append(body)
        return f"ev-{len(self.created)}"

    def patch_event(self, namespace: str, name: str, body: dict[str, Any]) -> None:
        self.patched.append((name, body))


def result(outcome: str, **over: Any) -> ObjectResult:
    fields: dict[str, Any] = {"kind": "Secret", "namespace": "ns", "name": "s3-secret",
                              "outcome": outcome, "uid": "u-1", "credentials": ("s3",)}
    fields.update(over)
    return ObjectResult(**fields)


MAPPING: list[tuple[ObjectResult, str | None, str]] = [
    (result("created"), "Synced", "Normal"),
    (result("updated", content_changed=True), "Rotated", "Normal"),
    (result("updated"), None, ""),  # our metadata only: nothing to tell
    (result("unchanged"), None, ""),
    (result("held"), "Held", "Warning"),
    (result("conflict", reason="exists and is not ours"), "Conflict", "Warning"),
    (result("error", reason="HTTP 422"), "SyncFailed", "Warning"),
    (result("rolled", kind="Deployment", name="d", reason="after rotation of Secret s"),
     "RolloutTriggered", "Normal"),
]


@pytest.mark.parametrize(("obj", "reason", "kind"), MAPPING)
def test_results_to_events(obj: ObjectResult, reason: str | None, kind: str) -> None:
    summary = Summary(objects=[obj], errors=[EntryError("s3", "read secret/p: sealed")])
    got = events.from_summary(summary)
    assert [(e.reason, e.type) for e in got] == ([(reason, kind)] if reason else [])
    if reason == "Held":
        assert got[0].message == "left as it is: read secret/p: sealed"


def test_equal_events_are_counted_on_one() -> None:
    api = Api()
    recorder = events.Recorder(api, clock=lambda: 0.0)
    event = events.from_summary(Summary(objects=[result("created")]))
    for _ in range(3):
        recorder.emit(event)
    assert len(api.created) == 1 and [b["count"] for _, b in api.patched] == [2, 3]
    body = api.created[0]
    assert body["involvedObject"] == {"kind": "Secret", "namespace": "ns", "name": "s3-secret",
                                      "apiVersion": "v1", "uid": "u-1"}
    assert body["source"] == {"component": "kserve-vault-sync"}


def test_limits_per_object_and_per_flush() -> None:
    api = Api()
    dropped: list[int] = []
    clock = {"t": 0.0}
    recorder = events.Recorder(api, dropped=dropped.append, clock=lambda: clock["t"])
    one = [events.Event("Secret", "ns", "s", "", "Normal", "Rotated", f"v{i}")
           for i in range(events.BURST + 5)]
    assert recorder.emit(one) == events.BURST and dropped == [5]
    clock["t"] += events.REFILL  # one more token
    assert recorder.emit([events.Event("Secret", "ns", "s", "", "Normal", "Rotated", "x")]) == 1
    many = [events.Event("Secret", "ns", f"s{i}", "", "Normal", "Synced", "created")
            for i in range(events.PER_FLUSH * 3)]
    assert recorder.emit(many) == events.PER_FLUSH
    assert dropped[-1] == events.PER_FLUSH * 2


def test_a_namespace_without_rbac_is_tried_once() -> None:
    api = Api(forbidden={"locked"})
    dropped: list[int] = []
    recorder = events.Recorder(api, dropped=dropped.append, clock=lambda: 0.0)
    batch = [events.Event("Secret", "locked", f"s{i}", "", "Normal", "Synced", "m")
             for i in range(10)]
    assert recorder.emit(batch) == 1 and dropped == [9]
    assert recorder.emit(batch) == 0
