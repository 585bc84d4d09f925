"""Where the daemon's memory goes at N targets (issue 14: steady RSS <= 100 MiB at 10,000):

    .venv/bin/python -m bench.memory --size 10000 [--cycles 6] [--out FILE.md]

One dev environment and the benchmark's OpenBao, the benchmark's own layout for N
targets (``bench/layout.py``), then three measurements, each from an empty cluster
(the first cycle is the initial sync):

1. the plain daemon (``kserve-vault-sync run``, as a user runs it): VmRSS from
   /proc every 50 ms, its value when each cycle's log line appeared, and the
   median after the third cycle (the benchmark's "steady RSS");
2. the same daemon in-process under ``tracemalloc`` (``bench/memory_child.py``):
   the top allocation sites by file/line and by file after the initial sync and
   after the last no-op cycle, and objects alive by type;
3. the baseline: a fresh interpreter importing, group by group, every module the
   daemon had loaded by its last cycle, with VmRSS after each group - what the
   process costs before it holds any state.

Writes JSON (``--json``) and Markdown (``--out``; stdout without it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import daemon_step, memory_report, openbao, procs, syncer_parts
from bench import k8s as bk
from bench import layout as lay
from bench import syncer_steps as steps
from bench.context import BIN, Context, Options, log
from bench.run import context
from devenv import servers

# Import groups of the baseline, in order, after the standard library; a module goes
# to the group of its top-level package. rich and pygments are in the dev venv only
# (import-linter needs them) and structlog imports them when they are there.
GROUPS = (("kubernetes client", ("kubernetes", "urllib3", "yaml", "google", "oauthlib",
                                 "requests_oauthlib", "websocket", "dateutil", "six",
                                 "durationpy")),
          ("hvac + requests", ("hvac", "requests", "charset_normalizer", "idna", "certifi")),
          ("pydantic", ("pydantic", "pydantic_core", "annotated_types", "typing_inspection",
                        "typing_extensions")),
          ("rich + pygments (dev venv only)", ("rich", "pygments")),
          ("structlog, prometheus_client, apscheduler, tenacity",
           ("structlog", "prometheus_client", "apscheduler", "tzlocal", "tzdata", "tenacity")),
          ("other third-party", ()),
          ("syncer", ("syncer",)))
SKIP = ("_", "bench", "tracemalloc", "cython_runtime")


BASELINE = """
import importlib, json, sys
def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1])
out = [['interpreter', rss(), 0]]
for name, modules in json.loads(sys.argv[1]):
    loaded = 0
    for module in modules:
        try:
            importlib.import_module(module)
            loaded += 1
        except Exception:
            pass
    out.append([name, rss(), loaded])
print(json.dumps(out))
"""


def _group(modules: list[str]) -> list[tuple[str, list[str]]]:
    groups: dict[str, list[str]] = {"standard library": [], **{name: [] for name, _ in GROUPS}}
    for module in modules:
        top = module.split(".", 1)[0]
        if module.startswith(SKIP) or module in sys.builtin_module_names:
            continue
        name = ("standard library" if top in sys.stdlib_module_names else
                next((n for n, prefixes in GROUPS if top in prefixes), "other third-party"))
        groups[name].append(module)
    return list(groups.items())


def baseline(modules: list[str]) -> list[dict[str, Any]]:
    """VmRSS of a fresh interpreter after each import group (the daemon's modules)."""
    done = subprocess.run([str(BIN / "python"), "-c", BASELINE, json.dumps(_group(modules))],
                          capture_output=True, text=True, timeout=300, check=True)
    rows, previous = [], 0
    for name, kib, loaded in json.loads(done.stdout):
        rows.append({"step": name, "rss_mib": kib / 1024, "added_mib": (kib - previous) / 1024,
                     "modules": loaded})
        previous = kib
    return rows


def plain(ctx: Context, config: Path, cycles: int, label: str,
          extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    """The daemon as users run it; RSS when each cycle ended and the steady median."""
    log_path = ctx.folder / f"{label}.log"
    env = procs.scrubbed_env(KVS_MAX_CYCLES=str(cycles), **(extra_env or {}))
    proc = procs.Background([str(BIN / "kserve-vault-sync"), "run", "-c", str(config),
                             "--kubeconfig", ctx.kubeconfig("syncer"), "--listen="],
                            env=env, log=log_path)
    seen = daemon_step.Seen(log_path)
    limit = 900 + cycles * (ctx.opts.daemon_interval + 60)
    proc.wait_for(lambda: seen.count() >= cycles or not proc.alive(), timeout=limit, poll=0.1)
    # KVS_MAX_CYCLES: it stops by itself after that cycle (bounded wait, then SIGTERM).
    proc.wait_for(lambda: not proc.alive(), timeout=120, poll=0.1)
    rc = proc.stop()
    samples = proc.sampler.samples
    at_cycle = [next((kib for t, kib in samples if t >= at), samples[-1][1]) / 1024
                for at in seen.at] if samples else []
    steady = [kib / 1024 for t, kib in samples if len(seen.at) >= 3 and t >= seen.at[2]]
    return {"rc": rc, "cycles": len(seen.at), "rss_mib_at_cycle": at_cycle,
            "steady_rss_mib": statistics.median(steady) if steady else None,
            "peak_rss_mib": proc.sampler.peak_mib,
            "cycle_seconds": [c["duration"] for c in daemon_step.read_cycles(log_path)]}


def traced(ctx: Context, config: Path, cycles: int, label: str) -> dict[str, Any]:
    out = ctx.folder / f"{label}.json"
    argv = [str(BIN / "python"), "-X", "tracemalloc=1", "-m", "bench.memory_child", str(out),
            f"1,{cycles}", "--", "run", "-c", str(config), "--kubeconfig",
            ctx.kubeconfig("syncer"), "--listen="]
    measured = procs.run_measured(argv, env=procs.scrubbed_env(), stdout=ctx.folder /
                                  f"{label}.out", stderr=ctx.folder / f"{label}.err",
                                  timeout=900 + cycles * (ctx.opts.daemon_interval + 120))
    result: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    result["rc"] = measured.returncode
    result["peak_rss_mib"] = measured.peak_rss_mib
    return result


def measure(ctx: Context, n: int, cycles: int, *, traced_run: bool = True,
            variants: tuple[str, ...] = ()) -> dict[str, Any]:
    layout = lay.make(n, f"m{ctx.run_id}-{n}", f"bench/{ctx.run_id}/mem{n}")
    log(f"N={n}: {2 * n} objects, {len(layout.namespaces)} namespaces, {layout.paths} paths")
    bk.create_namespaces(ctx.core, layout.namespaces)
    steps.put_paths(ctx, layout)
    token_file = ctx.folder / "vault-token"
    token_file.write_text(ctx.creds.token)
    token_file.chmod(0o600)
    config = steps.write_config(ctx, layout, f"memory-{n}",
                                {"method": "token", "tokenFile": str(token_file)},
                                interval=f"{ctx.opts.daemon_interval}s", jitter="0%")
    result: dict[str, Any] = {"n": n, "paths": layout.paths, "cycles": cycles,
                              "interval": ctx.opts.daemon_interval}
    try:
        log(f"N={n}: the plain daemon, {cycles} cycles")
        result["plain"] = plain(ctx, config, cycles, f"memory-plain-{n}")
        log(f"N={n}: plain steady RSS {result['plain']['steady_rss_mib']} MiB")
        result["variants"] = {}
        for variant in variants:  # the same daemon with allocator settings, e.g.
            name, _, value = variant.partition("=")  # MALLOC_ARENA_MAX=2
            bk.delete_objects(ctx.core, layout.namespaces, syncer_parts.SELECTOR)
            got = plain(ctx, config, cycles, f"memory-{name}-{n}", {name: value})
            result["variants"][variant] = got
            log(f"N={n}: {variant}: steady RSS {got['steady_rss_mib']} MiB")
        if traced_run:
            log(f"N={n}: the tracemalloc run")
            bk.delete_objects(ctx.core, layout.namespaces, syncer_parts.SELECTOR)
            result["traced"] = traced(ctx, config, cycles, f"memory-traced-{n}")
            log("baseline: the daemon's modules imported in a fresh interpreter")
            result["baseline"] = baseline(result["traced"].get("modules") or [])
    finally:
        bk.delete_objects(ctx.core, layout.namespaces, syncer_parts.SELECTOR)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=10000)
    parser.add_argument("--cycles", type=int, default=6)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="also run the plain daemon with this in its environment "
                             "(repeatable), e.g. MALLOC_ARENA_MAX=2")
    parser.add_argument("--no-tracemalloc", action="store_true",
                        help="only the plain runs (no tracemalloc run, no baseline)")
    args = parser.parse_args(argv)
    folder = Path(args.workdir or tempfile.mkdtemp(prefix="kvs-memory-"))
    folder.mkdir(parents=True, exist_ok=True)
    opts = Options(sizes=[args.size], daemon_interval=args.interval)
    bao = None
    try:
        env = servers.up(folder / "env")
        bao = openbao.start(folder / "bao")
        result = measure(context(env, bao, opts, folder), args.size, max(3, args.cycles),
                         traced_run=not args.no_tracemalloc, variants=tuple(args.env))
    finally:
        if bao is not None:
            bao.stop()
        with contextlib.suppress(servers.DevEnvError):
            servers.down(folder / "env", quiet=True)
    result["command"] = "python -m bench.memory " + " ".join(
        argv if argv is not None else sys.argv[1:])
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    text = memory_report.markdown(result)
    if args.out:
        args.out.write_text(text)
    else:
        print(text)
    return 0 if result.get("plain", {}).get("rc") == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
