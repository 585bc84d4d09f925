"""RESULTS.md from the results dict, the plot through a cached matplotlib venv,
and the machine description."""

from __future__ import annotations

import fcntl
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

MATPLOTLIB = "matplotlib==3.11.2"
PLOT_SCRIPT = Path(__file__).with_name("plot.py")


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kserve-vault-sync"


def plot_python(timeout: float = 900.0) -> Path:
    """The python of ~/.cache/kserve-vault-sync/bench-venv, created once (under a lock)."""
    root = _cache_root()
    root.mkdir(parents=True, exist_ok=True)
    venv = root / "bench-venv"
    python, marker = venv / "bin" / "python", venv / ".kvs-installed"
    if python.exists() and marker.is_file() and marker.read_text() == MATPLOTLIB + "\n":
        return python
    with (root / "bench-venv.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (python.exists() and marker.is_file() and marker.read_text() == MATPLOTLIB + "\n"):
            print(f"[bench] installing {MATPLOTLIB} into {venv} (once)", file=sys.stderr)
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True,
                           timeout=timeout)
            subprocess.run([str(python), "-m", "pip", "install", "--quiet", MATPLOTLIB],
                           check=True, timeout=timeout)
            marker.write_text(MATPLOTLIB + "\n")
    return python


def plot(results_json: Path, png: Path) -> None:
    subprocess.run([str(plot_python()), str(PLOT_SCRIPT), str(results_json), str(png)],
                   check=True, timeout=300)


def machine() -> dict[str, Any]:
    cpu = ""
    cores = 0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and not cpu:
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("processor"):
                cores += 1
    except OSError:
        pass
    try:
        free = subprocess.run(["free", "-m"], capture_output=True, text=True, timeout=10,
                              check=False).stdout.strip()
    except OSError:
        free = "(free not available)"
    return {"cpu": cpu, "cores": cores, "free": free, "kernel": platform.release(),
            "python": platform.python_version(), "load_start": os.getloadavg()}


def _f(value: Any, digits: int = 2, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{unit}"
    if isinstance(value, int):
        return f"{value:,}{unit}"
    return str(value)


def _get(row: dict[str, Any], *keys: str) -> Any:
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


def size_table(row: dict[str, Any]) -> str:
    n = row["n"]
    init, noop, rot = row.get("initial") or {}, row.get("noop") or {}, row.get("rotation") or {}
    floor, script, dae = row.get("floor") or {}, row.get("script") or {}, row.get("daemon") or {}
    bound = ", upper bound" if dae.get("logins_per_hour_is_bound") else ""
    lines = [
        f"### N = {n:,} targets ({2 * n:,} objects: {n:,} Secrets + {n:,} ServiceAccounts; "
        f"{row['namespaces']:,} namespaces; P = {row['paths']:,} Vault paths)",
        "",
        "| measurement | syncer | raw-client floor | script baseline |",
        "|---|---|---|---|",
        f"| initial sync, time | {_f(init.get('cycle'))} s cycle, {_f(init.get('wall'))} s "
        f"process wall | {_f(floor.get('seconds'))} s | "
        f"{_f(script.get('estimate_seconds'), 1)} s{_script_note(script)} |",
        f"| initial sync, objects/s | {_f(init.get('objects_per_s'), 0)} (cycle) | "
        f"{_f(floor.get('objects_per_s'), 0)} | {_f(script.get('objects_per_s'), 1)} |",
        f"| initial sync, kube requests (writes) | {_f(_get(init, 'kube', 'requests'))} "
        f"({_f(_get(init, 'kube', 'writes'))}) | {_f(_get(floor, 'kube', 'requests'))} "
        f"({_f(_get(floor, 'kube', 'writes'))}) | {_f(_get(script, 'kube', 'requests'))} "
        f"({_f(_get(script, 'kube', 'writes'))}) for {script.get('sample', '-')} targets |",
        f"| initial sync, Vault requests | {_f(_get(init, 'vault', 'requests'))} | 0 | "
        f"{_f(_get(script, 'vault', 'requests'))} for {script.get('sample', '-')} targets |",
        f"| syncer vs floor / script speed-up | {_f(row.get('vs_floor'))}x floor time | | "
        f"{_f(row.get('vs_script'), 1)}x faster than the script |",
        "",
        "| syncer | value |",
        "|---|---|",
        f"| no-op cycle: process wall / cycle | {_f(noop.get('wall'))} s / "
        f"{_f(noop.get('cycle'))} s |",
        f"| no-op cycle inside the daemon (median / max of {_f(dae.get('cycles'))}) | "
        f"{_f(dae.get('cycle_seconds_median'))} s / {_f(dae.get('cycle_seconds_max'))} s |",
        f"| no-op: kube requests, writes, lists, gets | {_f(_get(noop, 'kube', 'requests'))}, "
        f"{_f(_get(noop, 'kube', 'writes'))}, {_f(_get(noop, 'kube', 'lists'))}, "
        f"{_f(_get(noop, 'kube', 'gets'))} |",
        f"| no-op: Vault requests (KV reads + token lookup) | "
        f"{_f(_get(noop, 'vault', 'requests'))} ({_f(_get(noop, 'vault', 'kv_reads'))} + "
        f"{_f(_get(noop, 'vault', 'lookups'))}); distinct paths P = {row['paths']:,} |",
        f"| rotation of 1 path used by {_f(rot.get('expected_writes'))} targets: writes | "
        f"{_f(_get(rot, 'kube', 'writes'))} (Secrets with the new version afterwards: "
        f"{_f(rot.get('applied'))}) |",
        f"| rotation: time from the Vault write until applied (`once`) | "
        f"{_f(rot.get('wall'))} s (cycle {_f(rot.get('cycle'))} s) |",
        f"| peak RSS, initial sync (`once`) | {_f(init.get('peak_rss_mib'), 1)} MiB |",
        f"| steady RSS, daemon after >= 3 cycles | {_f(dae.get('steady_rss_mib'), 1)} MiB "
        f"(peak {_f(dae.get('peak_rss_mib'), 1)} MiB, {_f(dae.get('cycles'))} cycles in "
        f"{_f(dae.get('window'), 0)} s) |",
        f"| Vault logins / renewals in the daemon window | {_f(_get(dae, 'vault', 'logins'))} / "
        f"{_f(_get(dae, 'vault', 'renewals'))} (token TTL {dae.get('token_ttl', '-')} s, max "
        f"TTL {dae.get('token_max_ttl', '-')} s) |",
        f"| Vault logins per hour (extrapolated{bound}) | {_f(dae.get('logins_per_hour'), 0)} "
        f"(one per token lifetime would be {_f(dae.get('expected_logins_per_hour'), 0)}; "
        f"cycles per hour {_f(dae.get('cycles_per_hour'), 0)}) |",
    ]
    if row.get("errors"):
        lines += ["", "Errors: " + "; ".join(row["errors"])]
    return "\n".join(lines) + "\n"


def write(results: dict[str, Any], out: Path, png_name: str | None,
          analysis: str = "") -> None:
    m = results["machine"]
    rows = sorted(results["sizes"], key=lambda r: r["n"])
    summary = ["| N | objects | floor s | syncer cycle s | syncer wall s | vs floor | "
               "script s | vs script | no-op wall s | no-op writes | rotation writes | "
               "peak RSS MiB | steady RSS MiB | logins/h |",
               "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        script_s = _get(r, "script", "estimate_seconds")
        summary.append(
            f"| {r['n']:,} | {2 * r['n']:,} | {_f(_get(r, 'floor', 'seconds'))} | "
            f"{_f(_get(r, 'initial', 'cycle'))} | {_f(_get(r, 'initial', 'wall'))} | "
            f"{_f(r.get('vs_floor'))}x | {_f(script_s, 1)}"
            f"{'*' if _get(r, 'script', 'extrapolated') else ''} | "
            f"{_f(r.get('vs_script'), 1)}x | {_f(_get(r, 'noop', 'wall'))} | "
            f"{_f(_get(r, 'noop', 'kube', 'writes'))} | {_f(_get(r, 'rotation', 'kube', 'writes'))}"
            f" | {_f(_get(r, 'initial', 'peak_rss_mib'), 1)} | "
            f"{_f(_get(r, 'daemon', 'steady_rss_mib'), 1)} | "
            f"{_f(_get(r, 'daemon', 'logins_per_hour'), 0)} |")
    v = results["versions"]
    text = [
        "# Scale benchmark results",
        "",
        f"Generated by `{results['command']}` on {results['date']} "
        f"(total run {results.get('total_seconds', 0):,.0f} s). How it measures: "
        "[README.md](README.md).",
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu']} - {m['cores']} logical cores; kernel {m['kernel']}",
        f"- Load average at start {tuple(round(x, 2) for x in m['load_start'])}, at end "
        f"{tuple(round(x, 2) for x in m.get('load_end', (0, 0, 0)))}. Other processes (tests, "
        "builds of other sessions) may share this machine; the API server, etcd, OpenBao, "
        "the syncer and the load generators all share its cores.",
        "",
        "```",
        m["free"],
        "```",
        "",
        f"- Versions: kube-apiserver / etcd {v['kubernetes']} (dev environment), OpenBao "
        f"{v['openbao']}, Python {m['python']}, kubernetes client {v['kubernetes_client']}, "
        f"hvac {v['hvac']}, kserve-vault-sync {v['syncer']} (git {v['git']}), kubectl "
        f"{v['kubectl']}.",
        f"- Syncer settings: `sync.concurrency` {results['concurrency']} (the default is 8: "
        "eight concurrent writes and an HTTP pool of eight). The Python client has no "
        "client-side QPS limiter (client-go's default is 5 QPS / burst 10); the only limit "
        "is the concurrency, and the floor uses the same.",
        "",
        "## Summary",
        "",
        *summary,
        "",
        "`*` extrapolated linearly from a timed sample of the first targets. `vs floor` = "
        "syncer initial-sync cycle time / floor time (target <= 1.5 at N = 1,000); "
        "`vs script` = script time / syncer process wall time (target >= 20 at N = 1,000).",
        "",
    ]
    if png_name:
        text += [f"![time and RSS against N]({png_name})", ""]
    if analysis:
        text += ["## Targets", "", analysis.strip(), ""]
    text += ["## Per size", ""]
    for r in rows:
        text += [size_table(r)]
    out.write_text("\n".join(text))


def now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S %Z")
