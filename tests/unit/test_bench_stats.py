"""The benchmark's audit arithmetic (bench/vaultstats.py, bench/cycles.py): pairing
OpenBao's request and response entries, path classes, percentiles, and giving each
request to the daemon cycle it belongs to. Pure functions over hand-made entries."""

from __future__ import annotations

import json
from typing import Any

from bench import cycles, vaultstats


def bao(kind: str, rid: str, path: str, stamp: str, error: str = "") -> dict[str, Any]:
    entry: dict[str, Any] = {"type": kind, "time": f"2025-01-01T00:00:{stamp}Z",
                             "request": {"id": rid, "path": path}}
    if error:
        entry["error"] = error
    return entry


def test_requests_pair_with_their_responses_by_id_and_fall_into_classes() -> None:
    entries = [
        bao("request", "a", "auth/approle/login", "00.000000000"),
        bao("request", "b", "secret/data/bench/p1", "00.100000000"),
        bao("response", "a", "auth/approle/login", "00.004000000"),
        bao("request", "c", "secret/metadata/bench/p1", "01.000000000"),
        bao("response", "c", "secret/metadata/bench/p1", "01.001000000", error="denied"),
        bao("response", "b", "secret/data/bench/p1", "00.102500000"),
        bao("request", "d", "sys/health", "01.500000000"),  # never answered in the log
    ]
    records = vaultstats.pairs(entries)
    assert [(r["class"], r["error"]) for r in records] == [
        ("login/token", False), ("kv data", False), ("kv metadata", True), ("other", False)]
    latency = [None if r["latency"] is None else round(r["latency"] * 1000, 3)
               for r in records]
    assert latency == [4.0, 2.5, 1.0, None]
    summary = vaultstats.summary(records, seconds=2.0)
    assert summary["by_class"] == {"login/token": 1, "kv data": 1, "kv metadata": 1,
                                   "other": 1}
    assert summary["rate_per_s"] == 2.0 and summary["peak_per_s"] == 2
    assert summary["latency_ms"]["paired"] == 3 and summary["errors"] == 1
    assert round(summary["kv_latency_ms"]["p99"], 3) == 2.5


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert vaultstats.percentile(values, 50) == 50.0
    assert vaultstats.percentile(values, 99) == 99.0
    assert vaultstats.percentile([3.0, 1.0], 99) == 3.0
    assert vaultstats.percentile([], 50) is None


def kube(verb: str, resource: str, second: int) -> dict[str, Any]:
    return {"verb": verb, "objectRef": {"resource": resource},
            "requestReceivedTimestamp": f"2025-01-01T00:00:{second:02d}.500000Z",
            "stageTimestamp": f"2025-01-01T00:00:{second:02d}.600000Z"}


def test_requests_belong_to_the_cycle_whose_log_line_follows_them() -> None:
    log = [json.dumps({"event": "cycle", "timestamp": f"2025-01-01T00:00:{s:02d}.000000Z",
                       "duration": 0.4, "writes": 0, "listed": s == 2})
           for s in (2, 4, 6)]
    lines = cycles.cycle_lines(["not json \"cycle\"", *log, '{"event": "vault_login"}'])
    ends = [c["end"] for c in lines]
    assert [c["listed"] for c in lines] == [True, False, False]
    events = [kube("list", "secrets", 0), kube("list", "serviceaccounts", 1),
              kube("list", "namespaces", 3), kube("create", "events", 3),
              kube("patch", "events", 3),
              kube("patch", "secrets", 3), kube("list", "secrets", 7)]  # after the last
    per = cycles.kube_per_cycle(events, ends)
    assert [c["lists"] for c in per] == [2, 0, 0]
    # A namespace list is counted apart: the watch cache stands in for object lists only.
    assert per[1] == {"lists": 0, "namespace_lists": 1, "writes": 1, "gets": 0,
                      "event_creates": 1, "event_patches": 1}
    reads = [{"class": "kv data", "path": p, "start": ends[0] - 1 + s}
             for p, s in (("a", 0), ("b", 0.1), ("a", 2), ("b", 2.1), ("a", 4), ("a", 4.2))]
    vault = cycles.vault_per_cycle(reads, ends)
    assert [(c["kv_reads"], c["distinct"]) for c in vault] == [(2, 2), (2, 2), (2, 1)]
    noop = cycles.noop_summary(per, vault, paths=2)
    assert noop["cycles"] == 2 and noop["lists_per_cycle"] == [0, 0]
    assert noop["namespace_lists_per_cycle"] == [1, 0]
    assert noop["writes"] == 1 and noop["event_creates"] == 1
    # The last cycle read path "a" twice and never "b": not one read per distinct path.
    assert not noop["one_read_per_path"]
    assert cycles.noop_summary(per[:2], vault[:2], paths=2)["one_read_per_path"]
