"""The scale benchmark, one command:

    .venv/bin/python -m bench.run [--sizes 10,100,1000,10000] [--out bench/RESULTS.md]

One dev environment (kube-apiserver + etcd from ``devenv``) and one
benchmark-owned OpenBao with a file audit device. For each N it measures the
floors (a Go HTTP/2 client at several concurrencies, and the Python client
with the syncer's limits), the syncer (as a subprocess, RSS sampled from
/proc) and the script baseline side by side, counting requests from the
servers' own audit records and CPU seconds from /proc. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kubernetes import client as k8s

from bench import floors, machine, openbao, profile_step, report, script, syncer_parts, venvs
from bench import k8s as bk
from bench import layout as lay
from bench import syncer_steps as steps
from bench.audit import BaoAudit, KubeAudit
from bench.context import FLOOR_CONCURRENCY, REPO, Context, Options, log
from devenv import binaries, servers

__all__ = ["Options", "main", "run"]


def _num(row: dict[str, Any], part: str, key: str) -> float | None:
    value = (row.get(part) or {}).get(key)
    return float(value) if isinstance(value, int | float) and value else None


def _derive(row: dict[str, Any]) -> None:
    """The best floor, CPU work and the ratios, from a size's measured runs (also for a
    results.json saved by an older version)."""
    if row.get("floors"):
        row["go_floor"] = floors.best(row["floors"], row["n"])
    for part in (row.get("initial"), row.get("floor")):
        if isinstance(part, dict) and part.get("cpu"):
            part["work"] = floors.work(part["cpu"])
    cycle = _num(row, "initial", "cycle")
    if cycle and _num(row, "floor", "seconds"):
        row["vs_floor"] = cycle / row["floor"]["seconds"]
    if cycle and _num(row, "go_floor", "seconds"):
        row["vs_go_floor"] = cycle / row["go_floor"]["seconds"]
    if _num(row, "initial", "work") and _num(row, "go_floor", "work"):
        row["work_vs_go_floor"] = row["initial"]["work"] / row["go_floor"]["work"]
    if _num(row, "initial", "wall") and _num(row, "script", "estimate_seconds"):
        row["vs_script"] = row["script"]["estimate_seconds"] / row["initial"]["wall"]


def _fastest(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    timed = [r for r in runs if isinstance(r.get(key), int | float)]
    return min(timed, key=lambda r: float(r[key])) if timed else runs[-1]


def _floors_and_initial(ctx: Context, n: int, layout: lay.Layout, config: Path,
                        row: dict[str, Any]) -> None:
    """The floors, then the syncer's initial sync, ``--repeat`` times interleaved (so both
    meet the same background load); the fastest of each is reported, all are kept."""
    python_floors, initials = [], []
    row["floors"] = []
    for rep in range(ctx.opts.repeat):
        log(f"N={n}: floors" + (f" (repetition {rep + 1} of {ctx.opts.repeat})"
                                if ctx.opts.repeat > 1 else ""))
        python, runs = floors.run(ctx, n, rep)
        python_floors.append(python)
        row["floors"] += runs
        best = floors.best(runs, n) or {}
        log(f"N={n}: Go floor {best.get('seconds', 0):.2f}s; syncer initial sync")
        init = steps.once(ctx, config, f"initial-{n}-{rep}", n)
        init["rep"] = rep
        if init.get("cycle"):
            init["objects_per_s"] = 2 * n / init["cycle"]
        initials.append(init)
        if rep + 1 < ctx.opts.repeat:
            bk.delete_objects(ctx.core, layout.namespaces, syncer_parts.SELECTOR)
    row["floor"] = _fastest(python_floors, "seconds")
    row["initial"] = _fastest(initials, "cycle")
    if ctx.opts.repeat > 1:
        row["initial_runs"] = initials
        row["python_floor_runs"] = python_floors


def run_size(ctx: Context, n: int) -> dict[str, Any]:
    t0 = time.monotonic()
    layout = lay.make(n, f"b{ctx.run_id}-sy{n}", f"bench/{ctx.run_id}/n{n}")
    row: dict[str, Any] = {"n": n, "paths": layout.paths,
                           "namespaces": len(layout.namespaces), "errors": []}
    log(f"N={n}: {2 * n} objects in {len(layout.namespaces)} namespaces from "
        f"{layout.paths} Vault paths; setting up")
    bk.create_namespaces(ctx.core, layout.namespaces)
    steps.put_paths(ctx, layout)
    token_file = ctx.folder / "vault-token"
    token_file.write_text(ctx.creds.token)
    os.chmod(token_file, 0o600)
    config = steps.write_config(ctx, layout, f"once-{n}", {"method": "token",
                                                            "tokenFile": str(token_file)})
    row["config_bytes"] = config.stat().st_size
    try:
        _floors_and_initial(ctx, n, layout, config, row)
        init = row["initial"]
        log(f"N={n}: initial cycle {init.get('cycle')}s wall {init['wall']:.2f}s "
            f"writes {init['kube']['writes']}; no-op")
        row["noop"] = steps.once(ctx, config, f"noop-{n}", n)
        log(f"N={n}: no-op wall {row['noop']['wall']:.2f}s writes "
            f"{row['noop']['kube']['writes']}; rotation")
        row["rotation"] = steps.rotate(ctx, layout, n, config)
        log(f"N={n}: rotation writes {row['rotation']['kube']['writes']}; daemon "
            f"({ctx.opts.daemon_seconds:.0f}s window)")
        row["daemon"] = steps.daemon(ctx, layout, n)
        log(f"N={n}: daemon steady RSS {row['daemon']['steady_rss_mib']} MiB, logins "
            f"{row['daemon']['vault']['logins']}; script baseline "
            f"({min(n, ctx.opts.script_sample)} targets)")
        row["script"] = script.run(ctx, n)
        if n in ctx.opts.profile_sizes:
            row["profile"] = profile_step.run(ctx, layout, n, config)
    except Exception as exc:  # noqa: BLE001 - one size failing must not lose the others
        log(f"N={n}: aborted: {exc!r}")
        row["errors"].append(f"aborted: {exc!r}")
    finally:
        bk.delete_objects(ctx.core, layout.namespaces, syncer_parts.SELECTOR)
    parts = [("floor", row.get("floor")), ("initial", row.get("initial")),
             ("noop", row.get("noop")), ("rotation", row.get("rotation")),
             ("daemon", row.get("daemon")), ("script", row.get("script"))]
    parts += [(f"floor {f.get('impl')} x{f.get('concurrency')}", f)
              for f in row.get("floors") or []]
    parts += [(f"initial (repetition {i.get('rep')})", i) for i in row.get("initial_runs") or []
              if i is not row.get("initial")]
    for name, part in parts:
        if isinstance(part, dict) and part.get("error"):
            row["errors"].append(f"{name}: {part['error']}")
    _derive(row)
    row["seconds"] = time.monotonic() - t0
    log(f"N={n}: done in {row['seconds']:.0f}s")
    return row


def _context(env: servers.Env, bao: openbao.Bao, opts: Options, folder: Path) -> Context:
    creds = openbao.setup(bao, token_ttl=opts.token_ttl, token_max_ttl=opts.token_max_ttl)
    admin = bk.admin_api(env)
    core = k8s.CoreV1Api(admin)
    identities = bk.identities(env, core, k8s.RbacAuthorizationV1Api(admin), folder)
    bins = binaries.find()
    kubectl = str(bins.kubectl) if bins else (shutil.which("kubectl") or "kubectl")
    return Context(env, bao, creds, identities, core, folder, opts, secrets.token_hex(2),
                   KubeAudit(env.audit_log), BaoAudit(bao.audit_log), kubectl)


def _finish(results: dict[str, Any], out: Path | None, png: Path | None,
            json_out: Path | None) -> None:
    results["targets"] = report.evaluate(results)
    if json_out:
        json_out.write_text(json.dumps(results, indent=1, default=str))
    if png and json_out:
        try:
            venvs.plot(json_out, png)
        except (OSError, subprocess.SubprocessError) as exc:
            log(f"plot failed: {exc}")
            png = None
    if out:
        report.write(results, out, png.name if png else None, results["targets"])
        log(f"wrote {out}")


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
                               "date": machine.now(), "machine": machine.machine(),
                               "concurrency": opts.concurrency, "sizes": []}
    try:
        if env is None:
            log(f"starting the dev environment in {folder / 'env'}")
            env = servers.up(folder / "env")
        results["versions"] = machine.versions(env)
        log("starting the benchmark's OpenBao (file audit device)")
        bao = openbao.start(folder / "bao")
        ctx = _context(env, bao, opts, folder)
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
    _finish(results, out, png, json_out)
    return results


def _ints(flag: str, allow_empty: bool = False) -> Any:
    def parse(text: str) -> tuple[int, ...]:
        try:
            values = tuple(int(s) for s in text.split(",") if s.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag}: {text!r} is not a list of integers"
                                             ) from None
        if (not values and not allow_empty) or any(v < 1 for v in values):
            raise argparse.ArgumentTypeError(f"{flag}: positive integers, e.g. 10,100,1000")
        return values
    return parse


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=_ints("--sizes"), default=(10, 100, 1000, 10000))
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "RESULTS.md")
    parser.add_argument("--png", type=Path, default=None,
                        help="default: results.png beside --out")
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="default: a fresh temporary directory")
    parser.add_argument("--concurrency", type=int, default=8,
                        help="sync.concurrency, and the Python-client floor's (8)")
    parser.add_argument("--floor-concurrency", type=_ints("--floor-concurrency"),
                        default=FLOOR_CONCURRENCY,
                        help="the Go floor's concurrencies (8,32,64,128); the best is the floor")
    parser.add_argument("--go-http1", type=_ints("--go-http1", True), default=(),
                        help="also run the Go floor over HTTP/1.1 at these concurrencies")
    parser.add_argument("--python-h2", type=_ints("--python-h2", True), default=(),
                        help="also run the Python httpx HTTP/2 prototype at these")
    parser.add_argument("--python-urllib3", type=_ints("--python-urllib3", True), default=(),
                        help="also run a bare urllib3 HTTP/1.1 client at these")
    parser.add_argument("--profile", type=_ints("--profile", True), default=(),
                        help="sizes to profile (import time, cProfile of the initial sync)")
    parser.add_argument("--py-spy", action="store_true",
                        help="with --profile: also sample the initial sync with py-spy")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run the floors and the initial sync this many times, "
                             "interleaved, and report the fastest of each (a shared machine)")
    parser.add_argument("--script-sample", type=int, default=100,
                        help="targets the script baseline runs per N (then extrapolated)")
    parser.add_argument("--daemon-seconds", type=float, default=90.0)
    parser.add_argument("--daemon-interval", type=float, default=5.0)
    parser.add_argument("--token-ttl", type=int, default=20)
    parser.add_argument("--token-max-ttl", type=int, default=60)
    parser.add_argument("--render", type=Path, default=None, metavar="RESULTS_JSON",
                        help="only re-write --out (and the plot) from a saved results.json")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    out: Path = args.out
    png = None if args.no_plot else (args.png or out.with_name("results.png"))
    if args.render:
        results = json.loads(args.render.read_text())
        for row in results["sizes"]:
            _derive(row)
        results["targets"] = report.evaluate(results)
        if png:
            venvs.plot(args.render, png)
        report.write(results, out, png.name if png else None, results["targets"])
        print(results["targets"])
        return 0
    opts = Options(sizes=list(args.sizes), concurrency=args.concurrency,
                   script_sample=args.script_sample, daemon_seconds=args.daemon_seconds,
                   daemon_interval=args.daemon_interval, token_ttl=args.token_ttl,
                   token_max_ttl=args.token_max_ttl, floor_concurrency=args.floor_concurrency,
                   go_http1=args.go_http1, python_h2=args.python_h2,
                   python_urllib3=args.python_urllib3,
                   profile_sizes=args.profile, py_spy=args.py_spy, repeat=max(1, args.repeat))
    command = "python -m bench.run " + " ".join(argv if argv is not None else sys.argv[1:])
    results = run(opts, workdir=args.workdir, out=out, png=png,
                  json_out=out.with_name("results.json"), command=command.strip())
    print(results["targets"])
    return 0 if all(not r["errors"] for r in results["sizes"]) else 1


if __name__ == "__main__":
    sys.exit(main())
