"""RESULTS.md from a results dict: the verdict on each target, computed from the
numbers, and the tables (``bench/tables.py``)."""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

from bench import profile_report, request_tables, tables
from bench.tables import fmt, get


def _verdict(ok: bool | None) -> str:
    return "not measured" if ok is None else ("**met**" if ok else "**not met**")


def _noop_1000(r: dict[str, Any] | None) -> str:
    if not (r and r.get("noop")):
        return f"- No-op cycle at 1,000: {_verdict(None)}."
    noop = r["noop"]
    ok = (noop["kube"]["writes"] == 0 and noop["vault"]["kv_reads"] == r["paths"]
          and noop["kube"]["lists"] <= 10 and noop["kube"]["gets"] == 0
          and noop["wall"] <= 1.0)
    return (f"- No-op cycle at 1,000: {_verdict(ok)} - {noop['kube']['writes']} writes, "
            f"{noop['vault']['kv_reads']} KV reads for {r['paths']} distinct paths "
            f"(+{noop['vault']['lookups']} token lookup), {noop['kube']['lists']} list "
            f"requests, {noop['kube']['gets']} gets; {noop['wall']:.2f} s process wall "
            f"(interpreter start, config parse and imports included), "
            f"{noop.get('cycle', 0):.2f} s cycle; a no-op cycle inside the running daemon "
            f"(config already parsed): median "
            f"{fmt(get(r, 'daemon', 'cycle_seconds_median'))} s.")


def _initial(r: dict[str, Any] | None, n: int) -> list[str]:
    """Initial sync against the floors (1.5x) and the script (20x)."""
    lines = []
    if r and r.get("vs_go_floor"):
        best = r["go_floor"]
        lines.append(
            f"- Initial sync at {n:,} within 1.5x of the Go floor: "
            f"{_verdict(r['vs_go_floor'] <= 1.5)} - {r['initial']['cycle']:.2f} s cycle vs "
            f"{best['seconds']:.2f} s Go floor (HTTP/2, {best['concurrency']} concurrent) = "
            f"{r['vs_go_floor']:.2f}x ({r['initial']['wall']:.2f} s process wall = "
            f"{r['initial']['wall'] / best['seconds']:.2f}x).")
    if r and r.get("vs_floor"):
        lines.append(
            f"- Initial sync at {n:,} within 1.5x of the Python-client floor: "
            f"{_verdict(r['vs_floor'] <= 1.5)} - {r['initial']['cycle']:.2f} s cycle vs "
            f"{r['floor']['seconds']:.2f} s = {r['vs_floor']:.2f}x.")
    if r and r.get("vs_script") and n == 1000:
        how = (f"extrapolated from {r['script']['sample']} targets"
               if r["script"]["extrapolated"] else "measured")
        lines.append(
            f"- Initial sync at 1,000 at least 20x faster than the script: "
            f"{_verdict(r['vs_script'] >= 20)} - script {r['script']['estimate_seconds']:.0f} s "
            f"({how}) vs {r['initial']['wall']:.2f} s syncer process wall = "
            f"{r['vs_script']:.1f}x.")
    return lines or [f"- Initial sync at {n:,} vs the floors and the script: {_verdict(None)}."]


def _at_10000(r: dict[str, Any] | None) -> list[str]:
    if not (r and r.get("daemon")):
        return [f"- 10,000 targets, steady RSS <= 150 MiB: {_verdict(None)}."]
    steady = r["daemon"].get("steady_rss_mib")
    done = r["initial"].get("rc") == 0 and r["initial"]["kube"]["writes"] == 20000
    rss = f"{steady if steady is None else round(steady, 1)} MiB"
    lines = [
        f"- 10,000 targets complete with steady RSS <= 150 MiB: "
        f"{_verdict(bool(done and steady is not None and steady <= 150))} - initial "
        f"sync exit {r['initial'].get('rc')}, {r['initial']['kube']['writes']:,} writes, "
        f"steady RSS {rss} (peak {r['initial']['peak_rss_mib']:.1f} MiB in `once`, "
        f"{r['daemon']['peak_rss_mib']:.1f} MiB in the daemon).",
        f"- Steady RSS at 10,000 <= 100 MiB: "
        f"{_verdict(steady is not None and steady <= 100)} - {rss}."]
    lines += _daemon_noop(r)
    return lines


def _daemon_noop(r: dict[str, Any]) -> list[str]:
    """The daemon's no-op cycles from the audit logs: 0 writes, 0 lists while the watches
    are healthy (but for the safety-net relist every 10th cycle), <= 1 s each."""
    dae = r["daemon"]
    noop = dae.get("noop") or {}
    cycle = dae.get("noop_cycle_seconds_median") or dae.get("cycle_seconds_median")
    if not noop:  # an older results.json: only the `once` no-op was counted
        once = r.get("noop") or {}
        if not once.get("kube"):
            return []
        ok = (once["kube"]["writes"] == 0 and once["kube"]["lists"] == 0
              and cycle is not None and cycle <= 1.0)
        return [f"- No-op cycle at {r['n']:,} <= 1 s with 0 writes and 0 lists: {_verdict(ok)}"
                f" - daemon median {fmt(cycle)} s; `once`: {once['kube']['writes']} writes, "
                f"{once['kube']['lists']} lists, {fmt(once.get('cycle'))} s cycle."]
    lists = noop.get("lists_per_cycle") or []
    listing = len(lists) - int(noop.get("cycles_without_lists") or 0)
    ok = (noop.get("writes") == 0 and bool(lists) and listing <= math.ceil(len(lists) / 10)
          and cycle is not None and cycle <= 1.0)
    ns_lists = sorted(set(noop.get("namespace_lists_per_cycle") or []))
    return [f"- No-op cycle at {r['n']:,} <= 1 s with 0 writes and 0 lists (daemon, audit "
            f"log): {_verdict(ok)} - median {fmt(cycle)} s over {len(lists)} no-op cycles, "
            f"{noop.get('writes')} writes, Secret + ServiceAccount lists per cycle {lists} (a "
            f"relist every 10th cycle is the safety net), namespace lists per cycle "
            f"{ns_lists} (not counted against the target); KV reads per cycle "
            f"{sorted(set(noop.get('kv_reads_per_cycle') or []))} for {r['paths']:,} paths."]


def _logins(rows: dict[int, dict[str, Any]]) -> list[str]:
    logins = [(n, row["daemon"]) for n, row in sorted(rows.items()) if row.get("daemon")]
    if not logins:
        return []
    # One per token lifetime (token_max_ttl, renewed in between): not per cycle, not per
    # object. A cycle longer than the TTL necessarily logs in again every cycle.
    ok = all(d["vault"]["logins"] <= d["expected_logins"] for _, d in logins)
    detail = "; ".join(
        f"N={n:,}: {d['vault']['logins']} logins + {d['vault']['renewals']} renewals in "
        f"{d['window']:.0f} s over {d['cycles']} cycles (one per lifetime: "
        f"{d['expected_logins']}"
        + (f"; logins {statistics.mean(d['login_gaps']):.0f} s apart" if d["login_gaps"]
           else "") + ")" for n, d in logins)
    return [f"- One Vault login per token lifetime: {_verdict(ok)} - {detail}."]


def _vault_side(rows: dict[int, dict[str, Any]]) -> list[str]:
    """One Vault read per distinct path per daemon cycle, and what Vault saw at the
    largest size (request rate, p99 latency from its audit device)."""
    measured = [(n, r["daemon"]["noop"]) for n, r in sorted(rows.items())
                if isinstance(get(r, "daemon", "noop"), dict)]
    if not measured:
        return []
    ok = all(noop.get("one_read_per_path") for _, noop in measured)
    lines = [f"- Vault reads stay one per distinct path per cycle: {_verdict(ok)} - "
             + "; ".join(f"N={n:,}: {sorted(set(noop.get('kv_reads_per_cycle') or []))} "
                         f"reads of {sorted(set(noop.get('distinct_per_cycle') or []))} "
                         f"distinct paths per cycle, P = {rows[n]['paths']:,}"
                         for n, noop in measured) + "."]
    n, last = max(rows.items())
    init, dae = get(last, "initial", "vault") or {}, get(last, "daemon", "vault", "noop") or {}
    if "latency_ms" in init:
        lines.append(
            f"- Vault at N={n:,} (measured, no target): initial sync "
            f"{fmt(init.get('requests'))} requests, {fmt(init.get('rate_per_s'), 1)}/s over "
            f"the run (busiest second {fmt(init.get('peak_per_s'))}), p50/p99 "
            f"{fmt(get(init, 'latency_ms', 'p50'))}/{fmt(get(init, 'latency_ms', 'p99'))} ms; "
            f"daemon no-op window {fmt(dae.get('rate_per_s'), 1)}/s, p50/p99 "
            f"{fmt(get(dae, 'latency_ms', 'p50'))}/{fmt(get(dae, 'latency_ms', 'p99'))} ms.")
    return lines


def evaluate(results: dict[str, Any]) -> str:
    """Met / not met for each target, from the numbers."""
    rows = {r["n"]: r for r in results["sizes"]}
    lines = [_noop_1000(rows.get(1000)), *_initial(rows.get(1000), 1000)]
    if rows.get(10000):
        lines += _initial(rows.get(10000), 10000)
    lines += _at_10000(rows.get(10000))
    lines += _logins(rows)
    lines += _vault_side(rows)
    return "\n".join(lines)


def size_section(row: dict[str, Any], cores: int) -> str:
    n = row["n"]
    lines = [
        f"### N = {n:,} targets ({2 * n:,} objects: {n:,} Secrets + {n:,} ServiceAccounts; "
        f"{row['namespaces']:,} namespaces; P = {row['paths']:,} Vault paths)",
        "", *tables.comparison(row), "", *tables.syncer_table(row), ""]
    if any(run.get("cpu") for run in row.get("floors") or []) or get(row, "initial", "cpu"):
        lines += ["Floors and CPU (seconds of CPU over each process's life; `other` is the "
                  "harness and everything else on the machine):", "",
                  *tables.cpu_table(row, cores), ""]
    lines += [*request_tables.vault_table(row), *request_tables.daemon_cycles_table(row),
              *request_tables.events_table(row)]
    lines += profile_report.section(row)
    if row.get("errors"):
        lines += ["Errors: " + "; ".join(row["errors"]), ""]
    return "\n".join(lines)


def _header(results: dict[str, Any]) -> list[str]:
    m, v = results["machine"], results["versions"]
    go = f", Go {v['go']}" if v.get("go") else ""
    return [
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
        f"{v['kubectl']}{go}.",
        f"- Syncer settings: `sync.concurrency` {results['concurrency']} (the default is 8: "
        "eight concurrent writes and an HTTP pool of eight). The Python client has no "
        "client-side QPS limiter (client-go's default is 5 QPS / burst 10); the only limit "
        "is the concurrency, and the Python-client floor uses the same. The Go floor posts "
        "the same bodies over HTTP/2 at several concurrencies; the best is the floor.",
        "",
    ]


def write(results: dict[str, Any], out: Path, png_name: str | None,
          analysis: str = "") -> None:
    rows = sorted(results["sizes"], key=lambda r: r["n"])
    text = [
        *_header(results),
        "## Summary",
        "",
        *tables.summary(rows),
        "",
        "`*` extrapolated linearly from a timed sample of the first targets. `vs Go floor` / "
        "`vs Python floor` = syncer initial-sync cycle time / that floor's time (target <= "
        "1.5); `CPU work vs Go floor` = CPU seconds of the syncer's `once` process plus the "
        "API server, etcd and OpenBao during it / the same for the fastest Go floor run (the "
        "ratio background load disturbs least); `vs script` = script time / syncer process "
        "wall time (target >= 20 at N = 1,000).",
        "",
    ]
    if png_name:
        text += [f"![time and RSS against N]({png_name})", ""]
    if analysis:
        text += ["## Targets", "", analysis.strip(), ""]
    text += ["## Per size", ""]
    cores = int(results["machine"].get("cores") or 1)
    text += [size_section(r, cores) for r in rows]
    text += request_tables.kv_metadata(results)
    out.write_text("\n".join(text))
