"""The daemon's requests cycle by cycle: its ``cycle`` log lines give when each
cycle ended (structlog's UTC ``timestamp``); a request belongs to the first
cycle that ended after it started. The Events a cycle posts and its token
renewal fall inside it (both happen before its ``cycle`` line); requests after
the last line belong to a cycle that had not finished and are left out.
Pure functions over decoded log and audit lines; no I/O.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable
from typing import Any

from bench.vaultstats import epoch


def cycle_lines(lines: Iterable[str]) -> list[dict[str, Any]]:
    """The daemon's ``cycle`` events: end (epoch s), duration, and whether it listed."""
    out = []
    for line in lines:
        if '"cycle"' not in line:
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == "cycle" and event.get("timestamp"):
            out.append({"end": epoch(str(event["timestamp"])),
                        "duration": float(event.get("duration") or 0),
                        "listed": event.get("listed"), "writes": event.get("writes")})
    return out


def _index(ends: list[float], start: float) -> int | None:
    i = bisect.bisect_left(ends, start)
    return i if i < len(ends) else None


def kube_per_cycle(events: list[dict[str, Any]], ends: list[float]) -> list[dict[str, int]]:
    """Per cycle: lists of the objects we manage (Secrets, ServiceAccounts), lists of
    namespaces, gets and writes on our objects, Event creates and patches
    (kube-apiserver audit events, ResponseComplete, by ``requestReceivedTimestamp``)."""
    rows = [{"lists": 0, "namespace_lists": 0, "writes": 0, "gets": 0, "event_creates": 0,
             "event_patches": 0} for _ in ends]
    for e in events:
        i = _index(ends, epoch(str(e.get("requestReceivedTimestamp") or e["stageTimestamp"])))
        if i is None:
            continue
        verb, resource = e["verb"], (e.get("objectRef") or {}).get("resource")
        if resource == "events":
            if verb == "create":
                rows[i]["event_creates"] += 1
            elif verb == "patch":
                rows[i]["event_patches"] += 1
        elif verb == "list":
            rows[i]["namespace_lists" if resource == "namespaces" else "lists"] += 1
        elif verb == "get":
            rows[i]["gets"] += 1
        elif verb in ("create", "update", "patch", "delete", "deletecollection"):
            rows[i]["writes"] += 1
    return rows


def vault_per_cycle(records: list[dict[str, Any]], ends: list[float]) -> list[dict[str, int]]:
    """Per cycle: KV data reads and the distinct paths among them, and all requests
    (``bench/vaultstats.pairs`` records)."""
    paths: list[list[str]] = [[] for _ in ends]
    totals = [0 for _ in ends]
    for r in records:
        i = _index(ends, r["start"])
        if i is None:
            continue
        totals[i] += 1
        if r["class"] == "kv data":
            paths[i].append(r["path"])
    return [{"requests": totals[i], "kv_reads": len(p), "distinct": len(set(p))}
            for i, p in enumerate(paths)]


def noop_summary(kube: list[dict[str, int]], vault: list[dict[str, int]],
                 paths: int) -> dict[str, Any]:
    """The daemon's no-op cycles (every cycle after the first, which fills the watch
    cache): object lists per cycle (the watch cache stands in for them), namespace
    lists per cycle, and KV reads per cycle against the distinct paths."""
    steady_k, steady_v = kube[1:], vault[1:]
    lists = [c["lists"] for c in steady_k]
    return {
        "cycles": len(steady_k),
        "lists_per_cycle": lists,
        "namespace_lists_per_cycle": [c.get("namespace_lists", 0) for c in steady_k],
        "cycles_without_lists": sum(1 for n in lists if n == 0),
        "writes": sum(c["writes"] for c in steady_k),
        "gets": sum(c["gets"] for c in steady_k),
        "event_creates": sum(c["event_creates"] for c in steady_k),
        "event_patches": sum(c["event_patches"] for c in steady_k),
        "kv_reads_per_cycle": [c["kv_reads"] for c in steady_v],
        "distinct_per_cycle": [c["distinct"] for c in steady_v],
        # One read per distinct path per cycle: reads == distinct == P in every cycle.
        "one_read_per_path": bool(steady_v) and all(
            c["kv_reads"] == c["distinct"] == paths for c in steady_v),
        "first_cycle": {**kube[0], **{f"vault_{k}": v for k, v in vault[0].items()}}
        if kube and vault else None,
    }
