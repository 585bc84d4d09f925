"""What the Vault side saw, from OpenBao's file audit device: requests by path
class, their rate, and server-side latency.

The audit device writes one ``request`` entry when a request has been
authenticated and is about to be handled, and one ``response`` entry when it
is answered, both with the same ``request.id`` and an RFC 3339 ``time`` (ns).
The gap between the two is the time OpenBao spent on the request (storage,
policy checks, the audit writes themselves) - not the network, not the client.
Pure functions over decoded entries; no I/O.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

CLASSES = ("login/token", "kv data", "kv metadata", "other")


def path_class(path: str) -> str:
    if path.startswith("auth/"):  # approle login, token renew-self / lookup-self
        return "login/token"
    if path.startswith("secret/data/"):
        return "kv data"
    if path.startswith("secret/metadata/"):
        return "kv metadata"
    return "other"


def epoch(stamp: str) -> float:
    """Seconds since the epoch from an RFC 3339 time (``Z`` or an offset; the
    fraction is cut to microseconds, which is what datetime keeps)."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100): a value that was observed."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def _id(entry: dict[str, Any]) -> str:
    return str((entry.get("request") or {}).get("id") or "")


def pairs(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per request: path, class, start (epoch s), latency (s, None when its
    response is not in the entries), and whether the response was an error."""
    responses: dict[str, dict[str, Any]] = {}
    requests: list[dict[str, Any]] = []
    for entry in entries:
        if entry.get("type") == "response":
            responses[_id(entry)] = entry
        elif entry.get("type") == "request":
            requests.append(entry)
    out = []
    for entry in requests:
        path = (entry.get("request") or {}).get("path", "")
        start = epoch(entry["time"])
        answer = responses.get(_id(entry))
        out.append({"path": path, "class": path_class(path), "start": start,
                    "latency": epoch(answer["time"]) - start if answer else None,
                    "error": bool(answer and answer.get("error"))})
    return out


def _latency_ms(records: list[dict[str, Any]]) -> dict[str, Any]:
    seconds = [r["latency"] for r in records if r["latency"] is not None]
    as_ms = [1000 * s for s in seconds]
    return {"paired": len(seconds), "p50": percentile(as_ms, 50),
            "p99": percentile(as_ms, 99), "max": max(as_ms) if as_ms else None}


def summary(records: list[dict[str, Any]], seconds: float | None) -> dict[str, Any]:
    """Requests by class, mean rate over ``seconds`` (the step's run time), the busiest
    one-second bucket, and latency p50/p99 overall and for KV data reads."""
    by_class = Counter(r["class"] for r in records)
    buckets = Counter(int(r["start"]) for r in records)
    kv = [r for r in records if r["class"] == "kv data"]
    return {
        "requests": len(records),
        "by_class": {c: by_class.get(c, 0) for c in CLASSES},
        "rate_per_s": len(records) / seconds if seconds else None,
        "peak_per_s": max(buckets.values()) if buckets else 0,
        "errors": sum(1 for r in records if r["error"]),
        "latency_ms": _latency_ms(records),
        "kv_latency_ms": _latency_ms(kv),
        "kv_distinct_paths": len({r["path"] for r in kv}),
    }

