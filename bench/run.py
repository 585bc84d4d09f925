"""The scale benchmark (issue 8), one command:

    .venv/bin/python -m bench.run [--sizes 10,100,1000,10000] [--out bench/RESULTS.md]

One dev environment (kube-apiserver + etcd from ``devenv``) and one
benchmark-owned OpenBao with a file audit device. For each N it measures the
syncer (as a subprocess, RSS sampled from /proc), the raw-client floor and
the script baseline side by side, counting requests from the servers' own
audit records. See bench/README.md for the layout and the method.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from kubernetes import client as k8s

from bench import k8s as bk
from bench import layout as lay
from bench import openbao, procs, report
from bench.audit import BaoAudit, KubeAudit
from devenv import binaries, servers
from syncer import diff, render, settings
from syncer.model import SELECTOR, Namespace, VaultData, VaultFailure
from syncer.secretvalue import SecretValue, encode

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parent.parent
SCRIPT_SELECTOR = "app.kubernetes.io/managed-by=bench-script"
SUMMARY_LINE = re.compile(r"(\d+) objects: (.*); (\d+) Vault reads; (\d+) failed entries; "
                          r"([\d.]+)s$")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Options:
    sizes: list[int]
    concurrency: int = 8
    script_sample: int = 100
    daemon_seconds: float = 90.0
    daemon_interval: float = 5.0
    token_ttl: int = 20
    token_max_ttl: int = 60
    min_daemon_cycles: int = 3
    # Where each value put into Vault comes from (tests pass their leak-guarded factory).
    values: Callable[[str], str] = field(
        default=lambda label: secrets.token_urlsafe(24))


@dataclass
class Context:
    env: servers.Env
    bao: openbao.Bao
    creds: openbao.Credentials
    kubeconfigs: dict[str, str]
    core: k8s.CoreV1Api
    folder: Path
    opts: Options
    run_id: str
    kube_audit: KubeAudit
    bao_audit: BaoAudit
    kubectl: str


# -- helpers ---------------------------------------------------------------------


def _audits(ctx: Context) -> None:
    ctx.kube_audit.mark()
    ctx.bao_audit.mark()


def _kube_summary(ctx: Context, actor: str) -> dict[str, Any]:
    return KubeAudit.summary(ctx.kube_audit.requests(bk.username(actor)))


def _bao_summary(ctx: Context) -> dict[str, Any]:
    entries = ctx.bao_audit.requests(openbao.POLICY, openbao.LOGIN_PATHS)
    return BaoAudit.summary(entries, openbao.LOGIN_PATHS)


def _login_gaps(ctx: Context) -> list[float]:
    """Seconds between consecutive logins, from OpenBao's audit timestamps."""
    times = sorted(datetime.fromisoformat(e["time"].replace("Z", "+00:00")).timestamp()
                   for e in ctx.bao_audit.requests(openbao.POLICY, openbao.LOGIN_PATHS)
                   if (e.get("request") or {}).get("path") in openbao.LOGIN_PATHS)
    return [b - a for a, b in itertools.pairwise(times)]


def _parse_once(stdout: Path) -> dict[str, Any]:
    last = ""
    with stdout.open("rb") as fh:
        with contextlib.suppress(OSError):
            fh.seek(-4096, os.SEEK_END)
        for line in fh.read().decode(errors="replace").splitlines():
            if line.strip():
                last = line.strip()
    match = SUMMARY_LINE.search(last)
    if not match:
        return {"summary": last[:300]}
    counts = {k: int(v) for v, k in (part.split(" ", 1) for part in match.group(2).split(", ")
                                     if " " in part)}
    return {"objects": int(match.group(1)), "counts": counts,
            "vault_reads": int(match.group(3)), "failed_entries": int(match.group(4)),
            "cycle": float(match.group(5)),
            "writes": sum(counts.get(k, 0) for k in ("created", "updated", "deleted"))}


def _write_config(ctx: Context, layout: lay.Layout, name: str, auth: dict[str, Any],
                  **sync: Any) -> Path:
    path = ctx.folder / f"{name}.yaml"
    path.write_text(lay.config(layout, vault_address=ctx.bao.addr, auth=auth,
                               concurrency=ctx.opts.concurrency, **sync))
    return path


def _once(ctx: Context, config: Path, label: str, n: int) -> dict[str, Any]:
    """`kserve-vault-sync once` as a subprocess; RSS sampled; audits counted."""
    _audits(ctx)
    out, err = ctx.folder / f"{label}.out", ctx.folder / f"{label}.err"
    measured = procs.run_measured(
        [str(BIN / "kserve-vault-sync"), "once", "-c", str(config), "--kubeconfig",
         ctx.kubeconfigs["syncer"]],
        env=procs.scrubbed_env(), stdout=out, stderr=err, timeout=300 + n * 0.5)
    result = {"rc": measured.returncode, "wall": measured.wall,
              "peak_rss_mib": measured.peak_rss_mib, **_parse_once(out),
              "kube": _kube_summary(ctx, "syncer"), "vault": _bao_summary(ctx)}
    if measured.returncode != 0:
        result["error"] = (f"exit {measured.returncode}; see {err}: "
                           + err.read_text(errors="replace")[-400:])
    return result


def _put_paths(ctx: Context, layout: lay.Layout) -> None:
    client = ctx.bao.client()

    def put(p: int) -> None:
        client.secrets.kv.v2.create_or_update_secret(
            path=layout.path(p), mount_point="secret",
            secret={"access_key": ctx.opts.values(f"bench-ak-{p}"),
                    "secret_key": ctx.opts.values(f"bench-sk-{p}")})

    bk.parallel(put, range(layout.paths))


def _floor_bodies(ctx: Context, layout: lay.Layout) -> list[dict[str, Any]]:
    """Exactly the bodies the syncer creates (its own render + diff), Secrets first."""
    config = settings.Config.model_validate(json.loads(lay.config(
        layout, vault_address=ctx.bao.addr, auth={"method": "token", "token": "unused"})))
    client = ctx.bao.client()
    data: dict[render.SourceKey, VaultData | VaultFailure] = {}
    for key in render.distinct_sources(config):
        mount, path, _, _ = key
        got = client.secrets.kv.v2.read_secret_version(path=path, mount_point=mount,
                                                       raise_on_deleted_version=True)["data"]
        data[key] = VaultData(mount=mount, path=path, version=got["metadata"]["version"],
                              data={k: SecretValue(v) for k, v in got["data"].items()})
    namespaces = {ns: Namespace(ns, {}) for ns in layout.namespaces}
    rendered = render.render(config, namespaces=namespaces, vault=data)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    out = []
    for d in rendered.secrets.values():
        (action,) = diff.diff_secret(d, None, now=now)
        out.append({"kind": "Secret", "namespace": d.namespace, "body": encode(action.body)})
    for sa in rendered.service_accounts.values():
        (action,) = diff.diff_service_account(sa, None, available=set(sa.secrets))
        out.append({"kind": "ServiceAccount", "namespace": sa.namespace, "body": action.body})
    return out


def _floor(ctx: Context, n: int) -> dict[str, Any]:
    layout = lay.make(n, f"b{ctx.run_id}-fl{n}", f"bench/{ctx.run_id}/n{n}")
    bk.create_namespaces(ctx.core, layout.namespaces)
    bodies = ctx.folder / f"floor-{n}.json"
    bodies.write_text(json.dumps(_floor_bodies(ctx, layout)))
    os.chmod(bodies, 0o600)
    _audits(ctx)
    out, err = ctx.folder / f"floor-{n}.out", ctx.folder / f"floor-{n}.err"
    measured = procs.run_measured(
        [sys.executable, "-m", "bench.floor", "--kubeconfig", ctx.kubeconfigs["floor"],
         "--bodies", str(bodies), "--concurrency", str(ctx.opts.concurrency)],
        env=procs.scrubbed_env(PYTHONPATH=str(REPO)), stdout=out, stderr=err,
        timeout=300 + n * 0.5, cwd=str(REPO))
    bodies.unlink()
    result: dict[str, Any] = {"rc": measured.returncode, "wall": measured.wall}
    try:
        result.update(json.loads(out.read_text().strip().splitlines()[-1]))
    except (ValueError, IndexError):
        result["error"] = err.read_text(errors="replace")[-400:]
    result["kube"] = _kube_summary(ctx, "floor")
    if result.get("seconds"):
        result["objects_per_s"] = 2 * n / result["seconds"]
    bk.delete_objects(ctx.core, layout.namespaces, SELECTOR)
    return result


def _rotate(ctx: Context, layout: lay.Layout, n: int, config: Path) -> dict[str, Any]:
    client = ctx.bao.client()
    client.secrets.kv.v2.create_or_update_secret(
        path=layout.path(0), mount_point="secret",
        secret={"access_key": ctx.opts.values("bench-ak-rotated"),
                "secret_key": ctx.opts.values("bench-sk-rotated")})
    version = client.secrets.kv.v2.read_secret_metadata(
        path=layout.path(0), mount_point="secret")["data"]["current_version"]
    result = _once(ctx, config, f"rotation-{n}", n)
    want = f"secret/{layout.path(0)}@{version}"
    hot = {(t.namespace, t.secret) for t in layout.hot_targets}
    applied = 0
    for item in bk.list_secrets(ctx.core, SELECTOR):
        meta = item["metadata"]
        if (meta["namespace"], meta["name"]) in hot and \
                (meta.get("annotations") or {}).get("kserve-vault-sync/source") == want:
            applied += 1
    result.update(expected_writes=len(hot), applied=applied)
    return result


def _daemon(ctx: Context, layout: lay.Layout, n: int) -> dict[str, Any]:
    """`kserve-vault-sync run` with an AppRole login of short TTL: steady RSS, logins."""
    secret_id_file = ctx.folder / "approle-secret-id"
    secret_id_file.write_text(ctx.creds.secret_id)
    os.chmod(secret_id_file, 0o600)
    config = _write_config(
        ctx, layout, f"daemon-{n}",
        {"method": "approle", "roleId": ctx.creds.role_id, "secretIdFile": str(secret_id_file)},
        interval=f"{ctx.opts.daemon_interval}s", jitter="0%")
    _audits(ctx)
    log_path = ctx.folder / f"daemon-{n}.log"
    daemon = procs.Background(
        [str(BIN / "kserve-vault-sync"), "run", "-c", str(config), "--kubeconfig",
         ctx.kubeconfigs["syncer"], "--listen="], env=procs.scrubbed_env(), log=log_path)
    window = ctx.opts.daemon_seconds
    cycles_at: list[float] = []
    durations: list[float] = []

    def cycles() -> int:
        found = []
        with contextlib.suppress(OSError), log_path.open(errors="replace") as fh:
            for line in fh:
                if '"cycle"' in line:
                    with contextlib.suppress(ValueError):
                        event = json.loads(line)
                        if event.get("event") == "cycle":
                            found.append(float(event.get("duration") or 0))
        while len(cycles_at) < len(found):
            cycles_at.append(time.monotonic())
        durations[:] = found
        return len(found)

    # Bounded: the window, extended (at most by 2x + 10 min) until enough cycles ran.
    hard_stop = daemon.started + 2 * window + 600
    daemon.wait_for(lambda: time.monotonic() - daemon.started >= window
                    and cycles() >= ctx.opts.min_daemon_cycles,
                    timeout=max(1.0, hard_stop - time.monotonic()), poll=0.25)
    cycles()
    elapsed = time.monotonic() - daemon.started
    alive = daemon.alive()
    rc = daemon.stop()
    vault = _bao_summary(ctx)
    gaps = _login_gaps(ctx)
    steady_since = (cycles_at[ctx.opts.min_daemon_cycles - 1]
                    if len(cycles_at) >= ctx.opts.min_daemon_cycles else
                    (cycles_at[-1] if cycles_at else daemon.started))
    result: dict[str, Any] = {
        "window": elapsed, "cycles": len(cycles_at), "rc": rc,
        "steady_rss_mib": daemon.sampler.median_mib_since(steady_since),
        "peak_rss_mib": daemon.sampler.peak_mib, "vault": vault,
        "token_ttl": ctx.creds.token_ttl, "token_max_ttl": ctx.creds.token_max_ttl,
        "cycle_seconds_median": statistics.median(durations) if durations else None,
        "cycle_seconds_max": max(durations) if durations else None,
        "login_gaps": gaps,
        # Steady state: one login per mean gap between logins; with a single login in
        # the window only an upper bound (one per window) can be given.
        "logins_per_hour": (3600 / statistics.mean(gaps) if gaps
                            else vault["logins"] * 3600 / elapsed),
        "logins_per_hour_is_bound": not gaps,
        "renewals_per_hour": vault["renewals"] * 3600 / elapsed,
        "expected_logins": math.ceil(elapsed / ctx.creds.token_max_ttl),
        "expected_logins_per_hour": 3600 / ctx.creds.token_max_ttl,
        "cycles_per_hour": len(cycles_at) * 3600 / elapsed,
        "kv_reads_per_cycle": vault["kv_reads"] / max(1, len(cycles_at)),
    }
    if not alive:
        result["error"] = f"daemon exited early (code {rc}); see {log_path}"
    elif len(cycles_at) < ctx.opts.min_daemon_cycles:
        result["error"] = (f"only {len(cycles_at)} cycles in {elapsed:.0f}s; steady RSS "
                           "taken after the last one")
    return result


def _script(ctx: Context, n: int) -> dict[str, Any]:
    sample = min(n, ctx.opts.script_sample)
    layout = lay.make(n, f"b{ctx.run_id}-sc{n}", f"bench/{ctx.run_id}/n{n}")
    targets = layout.targets[:sample]
    bk.create_namespaces(ctx.core, sorted({t.namespace for t in targets}))
    tsv = ctx.folder / f"script-{n}.tsv"
    tsv.write_text("".join(f"{t.namespace}\t{t.secret}\t{t.service_account}\t"
                           f"{layout.path(t.path)}\n" for t in targets))
    bao_bin = openbao._bao_binary()
    env = procs.scrubbed_env(
        PATH=os.pathsep.join([str(Path(bao_bin).parent), str(Path(ctx.kubectl).parent),
                              os.environ.get("PATH", "")]),
        BAO_ADDR=ctx.bao.addr, VAULT_ADDR=ctx.bao.addr, BAO_TOKEN=ctx.creds.token,
        VAULT_TOKEN=ctx.creds.token, KUBECONFIG=ctx.kubeconfigs["script"],
        KUBECACHEDIR=str(ctx.folder / "kubecache"))
    # Warm kubectl's discovery cache once, as a cron job on a long-lived host would have.
    subprocess.run([ctx.kubectl, "api-resources", "--api-group="], env=env, check=False,
                   capture_output=True, timeout=120)
    _audits(ctx)
    measured = procs.run_measured(
        ["bash", str(Path(__file__).with_name("baseline.sh")), str(tsv)], env=env,
        stdout=ctx.folder / f"script-{n}.out", stderr=ctx.folder / f"script-{n}.err",
        timeout=60 + sample * 15)
    seconds = measured.wall
    estimate = seconds / sample * n
    result = {"rc": measured.returncode, "sample": sample, "seconds": seconds,
              "per_target": seconds / sample, "estimate_seconds": estimate,
              "extrapolated": sample < n, "objects_per_s": 2 * sample / seconds,
              "kube": _kube_summary(ctx, "script"), "vault": _bao_summary(ctx)}
    if measured.returncode != 0:
        result["error"] = (ctx.folder / f"script-{n}.err").read_text(errors="replace")[-400:]
    bk.delete_objects(ctx.core, sorted({t.namespace for t in targets}), SCRIPT_SELECTOR)
    return result


def run_size(ctx: Context, n: int) -> dict[str, Any]:
    t0 = time.monotonic()
    layout = lay.make(n, f"b{ctx.run_id}-sy{n}", f"bench/{ctx.run_id}/n{n}")
    row: dict[str, Any] = {"n": n, "paths": layout.paths,
                           "namespaces": len(layout.namespaces), "errors": []}
    log(f"N={n}: {2 * n} objects in {len(layout.namespaces)} namespaces from "
        f"{layout.paths} Vault paths; setting up")
    bk.create_namespaces(ctx.core, layout.namespaces)
    _put_paths(ctx, layout)
    token_file = ctx.folder / "vault-token"
    token_file.write_text(ctx.creds.token)
    os.chmod(token_file, 0o600)
    config = _write_config(ctx, layout, f"once-{n}", {"method": "token",
                                                       "tokenFile": str(token_file)})
    row["config_bytes"] = config.stat().st_size
    try:
        log(f"N={n}: raw-client floor")
        row["floor"] = _floor(ctx, n)
        log(f"N={n}: floor {row['floor'].get('seconds', 0):.2f}s; syncer initial sync")
        init = row["initial"] = _once(ctx, config, f"initial-{n}", n)
        if init.get("cycle"):
            init["objects_per_s"] = 2 * n / init["cycle"]
        log(f"N={n}: initial cycle {init.get('cycle')}s wall {init['wall']:.2f}s "
            f"writes {init['kube']['writes']}; no-op")
        row["noop"] = _once(ctx, config, f"noop-{n}", n)
        log(f"N={n}: no-op wall {row['noop']['wall']:.2f}s writes "
            f"{row['noop']['kube']['writes']}; rotation")
        row["rotation"] = _rotate(ctx, layout, n, config)
        log(f"N={n}: rotation writes {row['rotation']['kube']['writes']}; daemon "
            f"({ctx.opts.daemon_seconds:.0f}s window)")
        row["daemon"] = _daemon(ctx, layout, n)
        log(f"N={n}: daemon steady RSS {row['daemon']['steady_rss_mib']} MiB, logins "
            f"{row['daemon']['vault']['logins']}; script baseline "
            f"({min(n, ctx.opts.script_sample)} targets)")
        row["script"] = _script(ctx, n)
    except Exception as exc:  # noqa: BLE001 - one size failing must not lose the others
        log(f"N={n}: aborted: {exc!r}")
        row["errors"].append(f"aborted: {exc!r}")
    finally:
        bk.delete_objects(ctx.core, layout.namespaces, SELECTOR)
    for part in ("floor", "initial", "noop", "rotation", "daemon", "script"):
        if isinstance(row.get(part), dict) and row[part].get("error"):
            row["errors"].append(f"{part}: {row[part]['error']}")
    if _num(row, "initial", "cycle") and _num(row, "floor", "seconds"):
        row["vs_floor"] = row["initial"]["cycle"] / row["floor"]["seconds"]
    if _num(row, "initial", "wall") and _num(row, "script", "estimate_seconds"):
        row["vs_script"] = row["script"]["estimate_seconds"] / row["initial"]["wall"]
    row["seconds"] = time.monotonic() - t0
    log(f"N={n}: done in {row['seconds']:.0f}s")
    return row


def _fmt(part: dict[str, Any] | None, key: str) -> str:
    value = (part or {}).get(key)
    return f"{value:.2f}" if isinstance(value, int | float) else "-"


def _num(row: dict[str, Any], part: str, key: str) -> float | None:
    value = (row.get(part) or {}).get(key)
    return float(value) if isinstance(value, int | float) and value else None


# -- targets ---------------------------------------------------------------------


def evaluate(results: dict[str, Any]) -> str:
    """Met / not met for each target of issue 8, from the numbers."""
    rows = {r["n"]: r for r in results["sizes"]}
    lines = []

    def verdict(ok: bool | None) -> str:
        return "not measured" if ok is None else ("**met**" if ok else "**not met**")

    r = rows.get(1000)
    if r and r.get("noop"):
        noop = r["noop"]
        ok = (noop["kube"]["writes"] == 0 and noop["vault"]["kv_reads"] == r["paths"]
              and noop["kube"]["lists"] <= 10 and noop["kube"]["gets"] == 0
              and noop["wall"] <= 1.0)
        lines.append(
            f"- No-op cycle at 1,000: {verdict(ok)} - {noop['kube']['writes']} writes, "
            f"{noop['vault']['kv_reads']} KV reads for {r['paths']} distinct paths "
            f"(+{noop['vault']['lookups']} token lookup), {noop['kube']['lists']} list "
            f"requests, {noop['kube']['gets']} gets; {noop['wall']:.2f} s process wall "
            f"(interpreter start, config parse and imports included), "
            f"{noop.get('cycle', 0):.2f} s cycle; a no-op cycle inside the running daemon "
            f"(config already parsed): median {_fmt(r.get('daemon'), 'cycle_seconds_median')} s.")
    else:
        lines.append(f"- No-op cycle at 1,000: {verdict(None)}.")
    if r and r.get("vs_floor") and r.get("vs_script"):
        ok_floor = r["vs_floor"] <= 1.5
        ok_script = r["vs_script"] >= 20
        how = (f"extrapolated from {r['script']['sample']} targets"
               if r["script"]["extrapolated"] else "measured")
        lines.append(
            f"- Initial sync at 1,000 within 1.5x of the raw-client floor: {verdict(ok_floor)}"
            f" - {r['initial']['cycle']:.2f} s cycle vs {r['floor']['seconds']:.2f} s floor "
            f"= {r['vs_floor']:.2f}x ({r['initial']['wall']:.2f} s process wall = "
            f"{r['initial']['wall'] / r['floor']['seconds']:.2f}x).")
        lines.append(
            f"- Initial sync at 1,000 at least 20x faster than the script: "
            f"{verdict(ok_script)} - script {r['script']['estimate_seconds']:.0f} s "
            f"({how})"
            f" vs {r['initial']['wall']:.2f} s syncer process wall = {r['vs_script']:.1f}x.")
    else:
        lines.append(f"- Initial sync at 1,000 vs floor and script: {verdict(None)}.")
    r = rows.get(10000)
    if r and r.get("daemon"):
        steady = r["daemon"].get("steady_rss_mib")
        done = r["initial"].get("rc") == 0 and r["initial"]["kube"]["writes"] == 20000
        ok = bool(done and steady is not None and steady <= 150)
        lines.append(
            f"- 10,000 targets complete with steady RSS <= 150 MiB: {verdict(ok)} - initial "
            f"sync exit {r['initial'].get('rc')}, {r['initial']['kube']['writes']:,} writes, "
            f"steady RSS {steady if steady is None else round(steady, 1)} MiB (peak "
            f"{r['initial']['peak_rss_mib']:.1f} MiB in `once`, "
            f"{r['daemon']['peak_rss_mib']:.1f} MiB in the daemon).")
    else:
        lines.append(f"- 10,000 targets, steady RSS <= 150 MiB: {verdict(None)}.")
    logins = [(n, row["daemon"]) for n, row in sorted(rows.items()) if row.get("daemon")]
    if logins:
        # One per token lifetime (token_max_ttl, renewed in between): not per cycle, not per
        # object. A cycle longer than the TTL necessarily logs in again every cycle.
        ok = all(d["vault"]["logins"] <= d["expected_logins"] for _, d in logins)
        detail = "; ".join(
            f"N={n:,}: {d['vault']['logins']} logins + {d['vault']['renewals']} renewals in "
            f"{d['window']:.0f} s over {d['cycles']} cycles (one per lifetime: "
            f"{d['expected_logins']}"
            + (f"; logins {statistics.mean(d['login_gaps']):.0f} s apart" if d["login_gaps"]
               else "") + ")" for n, d in logins)
        lines.append(f"- One Vault login per token lifetime: {verdict(ok)} - {detail}.")
    return "\n".join(lines)


# -- the run ---------------------------------------------------------------------


def _versions(env: servers.Env) -> dict[str, str]:
    def pkg(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "?"

    def out(argv: list[str]) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=30,
                                  check=False).stdout.strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"

    bins = binaries.find()
    return {"kubernetes": f"v{env.k8s_version}", "openbao": out([openbao._bao_binary(),
                                                                 "version"]),
            "kubernetes_client": pkg("kubernetes"), "hvac": pkg("hvac"),
            "syncer": pkg("kserve-vault-sync"),
            # A run from an exported tree (no .git) names its revision in KVS_BENCH_REVISION.
            "git": os.environ.get("KVS_BENCH_REVISION")
            or out(["git", "-C", str(REPO), "describe", "--always", "--dirty"]),
            "kubectl": out([str(bins.kubectl) if bins else "kubectl", "version", "--client"])}


def run(opts: Options, *, env: servers.Env | None = None, workdir: Path | None = None,
        out: Path | None = None, png: Path | None = None,
        json_out: Path | None = None, command: str = "") -> dict[str, Any]:
    """Run every size; write RESULTS.md (+ JSON, + PNG) when paths are given.

    With ``env`` the caller's dev environment is used (and left running); without
    it one is started in the work dir and brought down at the end.
    """
    started = time.monotonic()
    folder = Path(workdir or tempfile.mkdtemp(prefix="kvs-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    own_env = env is None
    bao: openbao.Bao | None = None
    results: dict[str, Any] = {"command": command or "python -m bench.run",
                               "date": report.now(), "machine": report.machine(),
                               "concurrency": opts.concurrency, "sizes": []}
    try:
        if env is None:
            log(f"starting the dev environment in {folder / 'env'}")
            env = servers.up(folder / "env")
        results["versions"] = _versions(env)
        log("starting the benchmark's OpenBao (file audit device)")
        bao = openbao.start(folder / "bao")
        creds = openbao.setup(bao, token_ttl=opts.token_ttl, token_max_ttl=opts.token_max_ttl)
        admin = bk.admin_api(env)
        core = k8s.CoreV1Api(admin)
        kubeconfigs = bk.identities(env, core, k8s.RbacAuthorizationV1Api(admin), folder)
        bins = binaries.find()
        kubectl = str(bins.kubectl) if bins else (shutil.which("kubectl") or "kubectl")
        ctx = Context(env, bao, creds, kubeconfigs, core, folder, opts,
                      secrets.token_hex(2), KubeAudit(env.audit_log),
                      BaoAudit(bao.audit_log), kubectl)
        for n in opts.sizes:
            results["sizes"].append(run_size(ctx, n))
            if json_out:  # keep what is done so far
                json_out.write_text(json.dumps(results, indent=1, default=str))
    finally:
        if bao is not None:
            bao.stop()
        if own_env:
            with contextlib.suppress(servers.DevEnvError):
                servers.down(folder / "env", quiet=True)
    results["machine"]["load_end"] = os.getloadavg()
    results["total_seconds"] = time.monotonic() - started
    results["targets"] = evaluate(results)
    if json_out:
        json_out.write_text(json.dumps(results, indent=1, default=str))
    if png and json_out:
        try:
            report.plot(json_out, png)
        except (OSError, subprocess.SubprocessError) as exc:
            log(f"plot failed: {exc}")
            png = None
    if out:
        report.write(results, out, png.name if png else None, results["targets"])
        log(f"wrote {out}")
    return results


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--sizes: {text!r} is not a list of integers"
                                         ) from None
    if not sizes or any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError("--sizes: positive integers, e.g. 10,100,1000")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=_sizes, default=[10, 100, 1000, 10000])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "RESULTS.md")
    parser.add_argument("--png", type=Path, default=None,
                        help="default: results.png beside --out")
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="default: a fresh temporary directory")
    parser.add_argument("--concurrency", type=int, default=8, help="sync.concurrency (8)")
    parser.add_argument("--script-sample", type=int, default=100,
                        help="targets the script baseline runs per N (then extrapolated)")
    parser.add_argument("--daemon-seconds", type=float, default=90.0)
    parser.add_argument("--daemon-interval", type=float, default=5.0)
    parser.add_argument("--token-ttl", type=int, default=20)
    parser.add_argument("--token-max-ttl", type=int, default=60)
    parser.add_argument("--render", type=Path, default=None, metavar="RESULTS_JSON",
                        help="only re-write --out (and the plot) from a saved results.json")
    args = parser.parse_args(argv)
    out: Path = args.out
    png = None if args.no_plot else (args.png or out.with_name("results.png"))
    if args.render:
        results = json.loads(args.render.read_text())
        results["targets"] = evaluate(results)
        if png:
            report.plot(args.render, png)
        report.write(results, out, png.name if png else None, results["targets"])
        print(results["targets"])
        return 0
    opts = Options(sizes=args.sizes, concurrency=args.concurrency,
                   script_sample=args.script_sample, daemon_seconds=args.daemon_seconds,
                   daemon_interval=args.daemon_interval, token_ttl=args.token_ttl,
                   token_max_ttl=args.token_max_ttl)
    command = "python -m bench.run " + " ".join(argv if argv is not None else sys.argv[1:])
    results = run(opts, workdir=args.workdir, out=out, png=png,
                  json_out=out.with_name("results.json"), command=command.strip())
    print(results["targets"])
    return 0 if all(not r["errors"] for r in results["sizes"]) else 1


if __name__ == "__main__":
    sys.exit(main())
