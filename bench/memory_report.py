"""Markdown for ``bench/memory.py``: RSS per cycle, the baseline by import group, and
the tracemalloc top lists. Tolerates missing parts (a run that failed midway)."""

from __future__ import annotations

from typing import Any

from bench.tables import fmt

TOP = 20


def _table(title: str, rows: list[dict[str, Any]], grown: bool) -> list[str]:
    if not rows:
        return []
    if grown:
        out = [title, "", "| where | grew KiB | blocks added | KiB now |", "|---|---|---|---|"]
        out += [f"| `{r['where']}` | {r['kib_diff']:+,.0f} | {r['count_diff']:+,} | "
                f"{r['kib']:,.0f} |" for r in rows[:TOP]]
    else:
        out = [title, "", "| where | KiB | blocks |", "|---|---|---|"]
        out += [f"| `{r['where']}` | {r['kib']:,.0f} | {r['count']:,} |" for r in rows[:TOP]]
    return [*out, ""]


def _snapshots(traced: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for snap in traced.get("snapshots") or []:
        grown = (f"; grew {snap['grown_kib'] / 1024:+.1f} MiB since the first cycle began"
                 if "grown_kib" in snap else "")
        out += [f"### tracemalloc {snap['label']}", "",
                f"VmRSS {snap['rss_kib'] / 1024:.1f} MiB (with tracemalloc, its own "
                f"{snap['tracemalloc_overhead_kib'] / 1024:.1f} MiB included); traced "
                f"{snap['traced_kib'] / 1024:.1f} MiB{grown}.", ""]
        if "grown_lines" in snap:
            out += _table("Growth since the first cycle began, by file:",
                          snap["grown_files"], True)
            out += _table("Growth since the first cycle began, by line:",
                          snap["grown_lines"], True)
        else:
            out += _table("Everything traced, by file:", snap["top_files"], False)
        types = ", ".join(f"{k} {v:,}" for k, v in snap["gc_objects_by_type"].items())
        out += [f"Objects tracked by gc, by type: {types}.", ""]
    return out


def markdown(result: dict[str, Any]) -> str:
    plain = result.get("plain") or {}
    rss = ", ".join(f"{v:.1f}" for v in plain.get("rss_mib_at_cycle") or [])
    durations = ", ".join(f"{v:.2f}" for v in plain.get("cycle_seconds") or [])
    out = [f"## Memory at N = {result['n']:,} targets ({2 * result['n']:,} objects, "
           f"P = {result['paths']:,} paths)", "",
           f"`{result.get('command', 'python -m bench.memory')}`: the daemon, "
           f"{result['cycles']} cycles {result['interval']:g} s apart, the first an initial "
           "sync into an empty cluster.", "",
           "| daemon (plain `run`) | value |", "|---|---|",
           f"| steady RSS (median after the third cycle) | "
           f"{fmt(plain.get('steady_rss_mib'), 1)} MiB |",
           f"| peak RSS | {fmt(plain.get('peak_rss_mib'), 1)} MiB |",
           f"| RSS when each cycle ended, MiB | {rss or '-'} |",
           f"| cycle durations, s | {durations or '-'} |"]
    for variant, got in (result.get("variants") or {}).items():
        out.append(f"| steady / peak RSS with `{variant}` | "
                   f"{fmt(got.get('steady_rss_mib'), 1)} / {fmt(got.get('peak_rss_mib'), 1)} "
                   f"MiB |")
    out.append("")
    base = result.get("baseline") or []
    if base:
        out += ["Baseline: a fresh interpreter importing the modules the daemon had loaded "
                "by its last cycle, group by group (no state held):", "",
                "| after importing | modules | VmRSS MiB | added MiB |", "|---|---|---|---|"]
        out += [f"| {b['step']} | {b['modules']:,} | {b['rss_mib']:.1f} | "
                f"{b['added_mib']:+.1f} |" for b in base]
        steady = plain.get("steady_rss_mib")
        if steady:
            out += ["", f"State and heap beyond the baseline: {steady - base[-1]['rss_mib']:.1f} "
                    f"MiB of the {steady:.1f} MiB steady RSS."]
        out.append("")
    out += _snapshots(result.get("traced") or {})
    return "\n".join(out)
