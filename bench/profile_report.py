"""RESULTS.md tables for the profile step (``--profile``): import time, cProfile
and py-spy summaries of one size."""

from __future__ import annotations

from typing import Any

from bench.tables import fmt


def _imports(name: str, got: dict[str, Any], wall: float | None) -> list[str]:
    median = f"; median process wall without -X importtime {wall:.2f} s" if wall else ""
    lines = [f"`kserve-vault-sync {name}`: {got.get('modules', 0)} modules imported in "
             f"{fmt(got.get('total_ms'), 0)} ms (process wall with -X importtime "
             f"{fmt(got.get('wall'))} s{median}). Top 15 by cumulative time:", "",
             "| module | cumulative ms | self ms |", "|---|---|---|"]
    lines += [f"| {'  ' * r['depth']}`{r['module']}` | {r['cumulative_ms']:.1f} | "
              f"{r['self_ms']:.1f} |" for r in got.get("top") or []]
    return [*lines, ""]


def _functions(title: str, entries: list[dict[str, Any]], value: str, unit: str
               ) -> list[str]:
    lines = [title, "", f"| function | {unit} | calls or share |", "|---|---|---|"]
    for e in entries:
        extra = fmt(e.get("calls")) if "calls" in e else f"{e.get('share', 0):.1%}"
        lines.append(f"| `{e['function']}` | {e[value]:.3f} | {extra} |")
    return [*lines, ""]


def section(row: dict[str, Any]) -> list[str]:
    prof = row.get("profile")
    if not prof:
        return []
    n = row["n"]
    lines = [f"#### Profile at N = {n:,}", ""]
    walls = prof.get("wall_median") or {}
    for name, label in (("help", "--help"), ("validate", "validate -c CONFIG"),
                        ("once", "once -c CONFIG")):
        if name in (prof.get("importtime") or {}):
            lines += _imports(label, prof["importtime"][name], walls.get(name))
    cp = prof.get("cprofile") or {}
    if cp.get("by_cumulative"):
        lines += [f"cProfile of an initial sync (every thread, CPU time per thread): "
                  f"{fmt(cp.get('total_s'))} s CPU profiled; the cycle took "
                  f"{fmt(cp.get('cycle'))} s and the process {fmt(cp.get('wall'))} s under the "
                  "profiler.", ""]
        if cp.get("parts"):
            lines += ["Where that CPU went (cumulative time of one function per part). "
                      "cProfile's cost per call inflates code made of many small Python "
                      "calls, so these shares overstate such parts; py-spy's below do not:",
                      "", "| part | CPU s | share |",
                      "|---|---|---|"]
            lines += [f"| {p['part']} | {p['seconds']:.3f} | {p['share']:.1%} |"
                      for p in cp["parts"]]
            lines.append("")
        lines += _functions("Top 20 by cumulative CPU:", cp["by_cumulative"], "cumulative_s",
                            "cumulative s")
        lines += _functions("Top 20 by self CPU:", cp["by_self"], "self_s", "self s")
    noop = prof.get("cprofile_noop") or {}
    if noop.get("parts"):
        lines += [f"cProfile of a no-op cycle: {fmt(noop.get('total_s'))} s CPU profiled; the "
                  f"cycle took {fmt(noop.get('cycle'))} s under the profiler.", "",
                  "| part | CPU s | share |", "|---|---|---|"]
        lines += [f"| {p['part']} | {p['seconds']:.3f} | {p['share']:.1%} |"
                  for p in noop["parts"] if p["seconds"] > 0]
        lines.append("")
        lines += _functions("Top 20 by self CPU (no-op):", noop["by_self"], "self_s", "self s")
    spy = prof.get("pyspy") or {}
    if spy.get("by_cumulative"):
        lines += [f"py-spy of an initial sync ({spy['rate']} samples/s, only the thread holding "
                  f"the GIL): {spy['samples']:,} samples = {spy['seconds']:.2f} s of Python on a "
                  f"CPU; the cycle took {fmt(spy.get('cycle'))} s and the process "
                  f"{fmt(spy.get('wall'))} s.", ""]
        if spy.get("parts"):
            lines += ["| part | samples s | share |", "|---|---|---|"]
            lines += [f"| {p['part']} | {p['seconds']:.3f} | {p['share']:.1%} |"
                      for p in spy["parts"]]
            lines.append("")
        lines += _functions("Top 20 by cumulative samples:", spy["by_cumulative"], "seconds",
                            "seconds")
        lines += _functions("Top 20 by self samples:", spy["by_self"], "seconds", "seconds")
    return lines
