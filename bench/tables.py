"""The Markdown tables of RESULTS.md, one function per table, from a results dict.

Every lookup tolerates missing parts, so a results.json from an older run
(without the Go floor or CPU figures) still renders, with "-" where a value
was not measured.
"""

from __future__ import annotations

from typing import Any

CPU_COLUMNS = ("client", "kube-apiserver", "etcd", "openbao", "other")
WORK = ("client", "kube-apiserver", "etcd", "openbao")  # what a run itself costs


def fmt(value: Any, digits: int = 2, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{unit}"
    if isinstance(value, int):
        return f"{value:,}{unit}"
    return str(value)


def times(value: Any) -> str:
    """A ratio as "1.23x", or "-" when it was not measured."""
    return f"{value:,.2f}x" if isinstance(value, int | float) else "-"


def get(row: dict[str, Any], *keys: str) -> Any:
    value: Any = row
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _script_note(script: dict[str, Any]) -> str:
    if not script:
        return ""
    if script.get("extrapolated"):
        return f" (extrapolated from {script.get('sample')} targets)"
    return " (measured)"


def _go_best(row: dict[str, Any]) -> str:
    best = row.get("go_floor") or {}
    if not best:
        return "-"
    return f"{fmt(best.get('seconds'))} (x{best.get('concurrency')})"


def summary(rows: list[dict[str, Any]]) -> list[str]:
    out = ["| N | objects | Go floor s (best, xconc.) | Python-client floor s | syncer cycle s | "
           "syncer wall s | vs Go floor | CPU work vs Go floor | vs Python floor | script s | "
           "vs script | "
           "no-op wall s | no-op writes | rotation writes | peak RSS MiB | steady RSS MiB | "
           "logins/h |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        script_s = get(r, "script", "estimate_seconds")
        out.append(
            f"| {r['n']:,} | {2 * r['n']:,} | {_go_best(r)} | {fmt(get(r, 'floor', 'seconds'))} | "
            f"{fmt(get(r, 'initial', 'cycle'))} | {fmt(get(r, 'initial', 'wall'))} | "
            f"{times(r.get('vs_go_floor'))} | {times(r.get('work_vs_go_floor'))} | "
            f"{times(r.get('vs_floor'))} | {fmt(script_s, 1)}"
            f"{'*' if get(r, 'script', 'extrapolated') else ''} | "
            f"{fmt(r.get('vs_script'), 1)}x | {fmt(get(r, 'noop', 'wall'))} | "
            f"{fmt(get(r, 'noop', 'kube', 'writes'))} | "
            f"{fmt(get(r, 'rotation', 'kube', 'writes'))} | "
            f"{fmt(get(r, 'initial', 'peak_rss_mib'), 1)} | "
            f"{fmt(get(r, 'daemon', 'steady_rss_mib'), 1)} | "
            f"{fmt(get(r, 'daemon', 'logins_per_hour'), 0)} |")
    return out


def _run_name(run: dict[str, Any], repeated: bool) -> str:
    impl = {"go": "Go floor", "python-httpx": "Python httpx floor (prototype)",
            "python-urllib3": "Python urllib3 floor (prototype)",
            "python-kubernetes": "Python-client floor"}.get(str(run.get("impl")), "?")
    rep = f" #{run.get('rep', 0) + 1}" if repeated else ""
    return f"{impl} x{run.get('concurrency', '?')}{rep}"


def _cpu_cells(cpu: dict[str, Any] | None, wall: float | None, cores: int) -> str:
    cpu = cpu or {}
    spent = [cpu.get(k) for k in WORK]
    work = sum(v for v in spent if v) if all(v is not None for v in spent[:2]) else None
    cells = " | ".join(fmt(cpu.get(k)) for k in CPU_COLUMNS) + f" | {fmt(work)}"
    capacity = (wall or 0) * cores
    busy = cpu.get("machine")
    share = f" ({busy / capacity:.0%} of {cores} cores)" if busy and capacity else ""
    return f"{cells} | {fmt(busy)}{share}"


def cpu_table(row: dict[str, Any], cores: int) -> list[str]:
    """Every floor run and the syncer's steps: time, and who spent the CPU."""
    out = ["| run | protocol, connections | time s | objects/s | CPU s: client | kube-apiserver "
           "| etcd | OpenBao | other | work | machine busy |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    repeated = bool(row.get("initial_runs"))
    runs = [*(row.get("floors") or []),
            *(row.get("python_floor_runs") or ([row["floor"]] if row.get("floor") else []))]
    for run in runs:
        proto = f"{run.get('proto', '-')}, {run.get('connections', '-')}"
        out.append(f"| {_run_name(run, repeated)} | {proto} | {fmt(run.get('seconds'))} | "
                   f"{fmt(run.get('objects_per_s'), 0)} | "
                   f"{_cpu_cells(run.get('cpu'), run.get('wall'), cores)} |")
    initials = row.get("initial_runs") or [row.get("initial") or {}]
    steps = [("syncer `once`, initial sync" + (f" #{i.get('rep', 0) + 1}" if repeated else ""), i)
             for i in initials]
    steps += [("syncer `once`, no-op", row.get("noop") or {}),
              ("syncer `once`, rotation", row.get("rotation") or {})]
    for label, step in steps:
        if step.get("cpu"):
            out.append(f"| {label} | HTTP/1.1 pool | {fmt(step.get('cycle'))} cycle, "
                       f"{fmt(step.get('wall'))} wall | {fmt(step.get('objects_per_s'), 0)} | "
                       f"{_cpu_cells(step['cpu'], step.get('wall'), cores)} |")
    script = row.get("script") or {}
    if script.get("cpu"):
        out.append(f"| script baseline ({script.get('sample')} targets) | kubectl | "
                   f"{fmt(script.get('seconds'))} | {fmt(script.get('objects_per_s'), 1)} | "
                   f"{_cpu_cells(script['cpu'], script.get('seconds'), cores)} |")
    return out


def comparison(row: dict[str, Any]) -> list[str]:
    init, script = row.get("initial") or {}, row.get("script") or {}
    floor, best = row.get("floor") or {}, row.get("go_floor") or {}
    go: dict[str, Any] = next((f for f in row.get("floors") or [] if f.get("impl") == "go"
               and f.get("concurrency") == best.get("concurrency")
               and f.get("proto") == "HTTP/2.0"), {})
    sample = script.get("sample", "-")
    return [
        "| measurement | syncer | Go floor (best) | Python-client floor | script baseline |",
        "|---|---|---|---|---|",
        f"| initial sync, time | {fmt(init.get('cycle'))} s cycle, {fmt(init.get('wall'))} s "
        f"process wall | {_go_best(row)} s | {fmt(floor.get('seconds'))} s | "
        f"{fmt(script.get('estimate_seconds'), 1)} s{_script_note(script)} |",
        f"| initial sync, objects/s | {fmt(init.get('objects_per_s'), 0)} (cycle) | "
        f"{fmt(best.get('objects_per_s'), 0)} | {fmt(floor.get('objects_per_s'), 0)} | "
        f"{fmt(script.get('objects_per_s'), 1)} |",
        f"| initial sync, kube requests (writes) | {fmt(get(init, 'kube', 'requests'))} "
        f"({fmt(get(init, 'kube', 'writes'))}) | {fmt(get(go, 'kube', 'requests'))} "
        f"({fmt(get(go, 'kube', 'writes'))}) | {fmt(get(floor, 'kube', 'requests'))} "
        f"({fmt(get(floor, 'kube', 'writes'))}) | {fmt(get(script, 'kube', 'requests'))} "
        f"({fmt(get(script, 'kube', 'writes'))}) for {sample} targets |",
        f"| initial sync, CPU work (client + API server + etcd + OpenBao) s | "
        f"{fmt(init.get('work'))} (process) | {fmt(best.get('work'))} | "
        f"{fmt(floor.get('work'))} | - |",
        f"| initial sync, Vault requests | {fmt(get(init, 'vault', 'requests'))} | 0 | 0 | "
        f"{fmt(get(script, 'vault', 'requests'))} for {sample} targets |",
        f"| syncer vs floors / script | | {times(row.get('vs_go_floor'))} floor time, "
        f"{times(row.get('work_vs_go_floor'))} its CPU work | "
        f"{times(row.get('vs_floor'))} floor time | "
        f"{fmt(row.get('vs_script'), 1)}x faster than the script |",
    ]


def syncer_table(row: dict[str, Any]) -> list[str]:
    noop, rot, dae = row.get("noop") or {}, row.get("rotation") or {}, row.get("daemon") or {}
    init = row.get("initial") or {}
    bound = ", upper bound" if dae.get("logins_per_hour_is_bound") else ""
    return [
        "| syncer | value |",
        "|---|---|",
        f"| no-op cycle: process wall / cycle | {fmt(noop.get('wall'))} s / "
        f"{fmt(noop.get('cycle'))} s |",
        f"| no-op cycle inside the daemon (median / max of {fmt(dae.get('cycles'))}) | "
        f"{fmt(dae.get('cycle_seconds_median'))} s / {fmt(dae.get('cycle_seconds_max'))} s |",
        f"| no-op: kube requests, writes, lists, gets | {fmt(get(noop, 'kube', 'requests'))}, "
        f"{fmt(get(noop, 'kube', 'writes'))}, {fmt(get(noop, 'kube', 'lists'))}, "
        f"{fmt(get(noop, 'kube', 'gets'))} |",
        f"| no-op: Vault requests (KV reads + token lookup) | "
        f"{fmt(get(noop, 'vault', 'requests'))} ({fmt(get(noop, 'vault', 'kv_reads'))} + "
        f"{fmt(get(noop, 'vault', 'lookups'))}); distinct paths P = {row['paths']:,} |",
        f"| rotation of 1 path used by {fmt(rot.get('expected_writes'))} targets: writes | "
        f"{fmt(get(rot, 'kube', 'writes'))} (Secrets with the new version afterwards: "
        f"{fmt(rot.get('applied'))}) |",
        f"| rotation: time from the Vault write until applied (`once`) | "
        f"{fmt(rot.get('wall'))} s (cycle {fmt(rot.get('cycle'))} s) |",
        f"| peak RSS, initial sync (`once`) | {fmt(init.get('peak_rss_mib'), 1)} MiB |",
        f"| steady RSS, daemon after >= 3 cycles | {fmt(dae.get('steady_rss_mib'), 1)} MiB "
        f"(peak {fmt(dae.get('peak_rss_mib'), 1)} MiB, {fmt(dae.get('cycles'))} cycles in "
        f"{fmt(dae.get('window'), 0)} s) |",
        f"| Vault logins / renewals in the daemon window | {fmt(get(dae, 'vault', 'logins'))} / "
        f"{fmt(get(dae, 'vault', 'renewals'))} (token TTL {dae.get('token_ttl', '-')} s, max "
        f"TTL {dae.get('token_max_ttl', '-')} s) |",
        f"| Vault logins per hour (extrapolated{bound}) | {fmt(dae.get('logins_per_hour'), 0)} "
        f"(one per token lifetime would be {fmt(dae.get('expected_logins_per_hour'), 0)}; "
        f"cycles per hour {fmt(dae.get('cycles_per_hour'), 0)}) |",
    ]
