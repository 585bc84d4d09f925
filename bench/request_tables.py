"""The Markdown tables of what the servers saw, per size: Vault requests by path
class with rate and server-side latency, the daemon's cycles (lists and reads
per cycle), the Kubernetes Events posted; and the KV v2 metadata measurement.

Every lookup tolerates missing parts: a results.json from a run before these
were measured renders "-" (or leaves the table out).
"""

from __future__ import annotations

from typing import Any

from bench.tables import fmt, get
from bench.vaultstats import CLASSES


def _span(values: list[int] | None) -> str:
    if not values:
        return "-"
    low, high = min(values), max(values)
    return f"{low:,}" if low == high else f"{low:,}-{high:,}"


def vault_table(row: dict[str, Any]) -> list[str]:
    steps = [("initial sync (`once`)", get(row, "initial", "vault")),
             ("no-op (`once`)", get(row, "noop", "vault")),
             ("rotation (`once`)", get(row, "rotation", "vault")),
             ("daemon, no-op window", get(row, "daemon", "vault", "noop")),
             ("daemon, whole run (with its rotation)", get(row, "daemon", "vault"))]
    steps = [(name, v) for name, v in steps if isinstance(v, dict) and "by_class" in v]
    if not steps:
        return []
    out = ["Vault side, from OpenBao's file audit device (the syncer's requests; latency = "
           "response entry time - request entry time, paired by request id: time spent "
           "inside OpenBao, audit writes included):", "",
           "| step | requests | " + " | ".join(CLASSES) + " | per s (mean over the run) | "
           "busiest second | latency p50 / p99 ms | KV data p50 / p99 ms | errors |",
           "|---|---|" + "---|" * len(CLASSES) + "---|---|---|---|---|"]
    for name, v in steps:
        lat, kv = v.get("latency_ms") or {}, v.get("kv_latency_ms") or {}
        out.append(
            f"| {name} | {fmt(v.get('requests'))} | "
            + " | ".join(fmt((v.get("by_class") or {}).get(c)) for c in CLASSES)
            + f" | {fmt(v.get('rate_per_s'), 1)} | {fmt(v.get('peak_per_s'))} | "
            f"{fmt(lat.get('p50'))} / {fmt(lat.get('p99'))} | "
            f"{fmt(kv.get('p50'))} / {fmt(kv.get('p99'))} | {fmt(v.get('errors'))} |")
    return [*out, ""]


def daemon_cycles_table(row: dict[str, Any]) -> list[str]:
    noop = get(row, "daemon", "noop")
    if not isinstance(noop, dict):
        return []
    first = noop.get("first_cycle") or {}
    lists = noop.get("lists_per_cycle") or []
    return [
        "Daemon cycles, from the audit logs (a request belongs to the cycle whose `cycle` log "
        "line follows it; the first cycle fills the watch cache, the others are no-ops):", "",
        "| daemon | value |", "|---|---|",
        f"| first cycle: object lists, writes, KV reads (distinct paths) | "
        f"{fmt(first.get('lists'))}, "
        f"{fmt(first.get('writes'))}, {fmt(first.get('vault_kv_reads'))} "
        f"({fmt(first.get('vault_distinct'))}) |",
        f"| no-op cycles | {fmt(noop.get('cycles'))} |",
        f"| lists of Secrets + ServiceAccounts per no-op cycle | "
        f"{', '.join(str(n) for n in lists) or '-'} "
        f"({fmt(noop.get('cycles_without_lists'))} of {len(lists)} cycles without one) |",
        f"| lists of namespaces per no-op cycle | "
        f"{', '.join(str(n) for n in noop.get('namespace_lists_per_cycle') or []) or '-'} |",
        f"| writes / gets in no-op cycles | {fmt(noop.get('writes'))} / {fmt(noop.get('gets'))} |",
        f"| KV reads per no-op cycle vs distinct paths read vs P | "
        f"{_span(noop.get('kv_reads_per_cycle'))} vs {_span(noop.get('distinct_per_cycle'))} "
        f"vs {row['paths']:,} - one read per distinct path: "
        f"{'yes' if noop.get('one_read_per_path') else 'no'} |",
        "",
    ]


def events_table(row: dict[str, Any]) -> list[str]:
    dae = row.get("daemon") or {}
    steps = [("initial sync (`once`)", get(row, "initial", "kube")),
             ("no-op (`once`)", get(row, "noop", "kube")),
             ("rotation (`once`)", get(row, "rotation", "kube")),
             ("daemon, no-op cycles", dae.get("noop")),
             ("daemon, rotation cycles", dae.get("rotation"))]
    steps = [(name, s) for name, s in steps if isinstance(s, dict) and "event_creates" in s]
    if not steps:
        return []
    out = ["Kubernetes Events the syncer posted (audit log; object writes beside them):", "",
           "| step | object writes | event creates | event patches | event errors |",
           "|---|---|---|---|---|"]
    for name, s in steps:
        out.append(f"| {name} | {fmt(s.get('writes'))} | {fmt(s.get('event_creates'))} | "
                   f"{fmt(s.get('event_patches'))} | {fmt(s.get('event_errors'))} |")
    rot = dae.get("rotation") or {}
    if rot:
        out += ["", f"The daemon applied a rotation of the hot path ({fmt(rot.get('applied'))} "
                f"of {fmt(rot.get('expected_writes'))} Secrets carry the new version) "
                f"{fmt(rot.get('seconds_until_applied'))} s after the Vault write (that "
                f"cycle: {fmt(rot.get('cycle_seconds'))} s; {fmt(rot.get('lists'))} list "
                f"requests in the {fmt(rot.get('cycles'))} cycles after the write)."]
    return [*out, ""]


def kv_metadata(results: dict[str, Any]) -> list[str]:
    """`bench/kvmeta.py`: N metadata reads vs N data reads, the syncer's own reader."""
    runs = results.get("kv_metadata") or []
    if not runs:
        return []
    out = ["## KV v2: metadata reads vs data reads", "",
           "Would reading `secret/metadata/<path>` (`current_version`) and skipping the data "
           "read of an unchanged path win? The same P paths read with the syncer's own Vault "
           "reader (hvac on one requests Session), once as data, once as metadata, "
           "sequentially and with 8 threads; the fastest of the repeats. `metadata + data` is "
           "a cycle where every path changed. Server: the benchmark's OpenBao (dev mode, "
           "in-memory storage, file audit device on).", "",
           "| P | threads | data reads s | metadata reads s | metadata / data | "
           "metadata + data s | data ms/read | metadata ms/read |",
           "|---|---|---|---|---|---|---|---|"]
    for r in runs:
        data, meta = r.get("data_s"), r.get("metadata_s")
        ratio = f"{meta / data:.2f}" if data and meta else "-"
        out.append(
            f"| {fmt(r.get('paths'))} | {fmt(r.get('threads'))} | {fmt(data, 3)} | "
            f"{fmt(meta, 3)} | {ratio} | {fmt(r.get('both_s'), 3)} | "
            f"{fmt(1000 * data / r['paths'] if data else None, 3)} | "
            f"{fmt(1000 * meta / r['paths'] if meta else None, 3)} |")
    return [*out, ""]
