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

from bench import k8s as bk
from bench import kvmeta, machine, openbao, report, size, venvs
from bench.audit import BaoAudit, KubeAudit
from bench.context import FLOOR_CONCURRENCY, REPO, Context, Options, log
from devenv import binaries, servers

__all__ = ["Options", "main", "run"]


def context(env: servers.Env, bao: openbao.Bao, opts: Options, folder: Path) -> Context:
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
        ctx = context(env, bao, opts, folder)
        for n in opts.sizes:
            results["sizes"].append(size.run(ctx, n))
            if json_out:  # keep what is done so far
                json_out.write_text(json.dumps(results, indent=1, default=str))
        if opts.kv_metadata:
            log(f"KV v2 metadata vs data reads at P = {list(opts.kv_metadata)}")
            try:
                results["kv_metadata"] = kvmeta.run(ctx, opts.kv_metadata)
            except Exception as exc:  # noqa: BLE001 - keep the sizes already measured
                log(f"KV metadata timing failed: {exc!r}")
                results["kv_metadata_error"] = repr(exc)
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
    parser.add_argument("--kv-metadata", type=_ints("--kv-metadata", True), default=(100, 1000),
                        help="time P metadata reads vs P data reads at these P (empty: skip)")
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
            size.derive(row)
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
                   profile_sizes=args.profile, py_spy=args.py_spy, repeat=max(1, args.repeat),
                   kv_metadata=args.kv_metadata)
    command = "python -m bench.run " + " ".join(argv if argv is not None else sys.argv[1:])
    results = run(opts, workdir=args.workdir, out=out, png=png,
                  json_out=out.with_name("results.json"), command=command.strip())
    print(results["targets"])
    return 0 if all(not r["errors"] for r in results["sizes"]) else 1


if __name__ == "__main__":
    sys.exit(main())
