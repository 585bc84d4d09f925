"""The optional profile step (``--profile SIZES``): start-up cost and where an
initial sync spends its CPU, measured on the run's own servers and config.

- ``python -X importtime`` of ``--help``, ``validate`` and ``once`` (top imports
  by cumulative time), and the median process wall of ``--help`` / ``validate``;
- an initial sync (objects deleted first), then a no-op cycle, under per-thread
  cProfile (``bench/profiling.py``);
- with ``--py-spy``, another initial sync sampled by py-spy (installed once into
  a cached venv; ``--gil``: only the thread running Python), which distorts far
  less than cProfile, whose per-call cost inflates Python-heavy code.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path
from typing import Any

from bench import k8s as bk
from bench import layout as lay
from bench import procs, profiling, syncer_parts, venvs
from bench.context import BIN, REPO, Context, log
from bench.syncer_steps import parse_once

PYSPY_RATE = 250  # samples per second
WALL_REPEATS = 5


def _importtime(ctx: Context, label: str, args: list[str]) -> dict[str, Any]:
    err = ctx.folder / f"importtime-{label}.err"
    measured = procs.run_measured(
        [sys.executable, "-X", "importtime", str(BIN / "kserve-vault-sync"), *args],
        env=procs.scrubbed_env(), stdout=ctx.folder / f"importtime-{label}.out", stderr=err,
        timeout=300)
    return {"rc": measured.returncode, "wall": measured.wall,
            **profiling.importtime_top(err.read_text(errors="replace"))}


def _wall(ctx: Context, label: str, args: list[str]) -> float:
    walls = []
    for i in range(WALL_REPEATS):
        walls.append(procs.run_measured(
            [str(BIN / "kserve-vault-sync"), *args], env=procs.scrubbed_env(),
            stdout=ctx.folder / f"wall-{label}-{i}.out",
            stderr=ctx.folder / f"wall-{label}-{i}.err", timeout=300).wall)
    return statistics.median(walls)


def _cprofile(ctx: Context, n: int, config: Path, label: str) -> dict[str, Any]:
    prof, out = ctx.folder / f"{label}-{n}.prof", ctx.folder / f"cprofile-{label}-{n}.out"
    measured = procs.run_measured(
        [sys.executable, "-m", "bench.profiling", str(prof), "once", "-c", str(config),
         "--kubeconfig", ctx.kubeconfig("syncer")],
        env=procs.scrubbed_env(PYTHONPATH=str(REPO)), stdout=out,
        stderr=ctx.folder / f"cprofile-{label}-{n}.err", timeout=600 + n, cwd=str(REPO))
    result = {"rc": measured.returncode, "wall": measured.wall,
              "cpu_seconds": measured.cpu_seconds, "cycle": parse_once(out).get("cycle")}
    if prof.exists():
        result.update(profiling.pstats_top(prof))
    return result


def _pyspy(ctx: Context, n: int, config: Path) -> dict[str, Any]:
    raw, out = ctx.folder / f"initial-{n}.pyspy", ctx.folder / f"pyspy-{n}.out"
    measured = procs.run_measured(
        # --gil: only samples of the thread holding the GIL, i.e. Python running on a CPU
        # (threads waiting on a socket release it), so the shares are of Python's CPU.
        [str(venvs.ensure(venvs.PROFILE) / "py-spy"), "record", "--rate", str(PYSPY_RATE),
         "--function", "--nonblocking", "--gil", "--format", "raw", "--output", str(raw), "--",
         str(BIN / "kserve-vault-sync"), "once", "-c", str(config), "--kubeconfig",
         ctx.kubeconfig("syncer")],
        env=procs.scrubbed_env(), stdout=out, stderr=ctx.folder / f"pyspy-{n}.err",
        timeout=600 + n)
    result = {"rc": measured.returncode, "wall": measured.wall,
              "cpu_seconds": measured.cpu_seconds, "cycle": parse_once(out).get("cycle")}
    if raw.exists():
        result.update(profiling.pyspy_top(raw, PYSPY_RATE))
    return result


def run(ctx: Context, layout: lay.Layout, n: int, config: Path) -> dict[str, Any]:
    log(f"N={n}: profile: import time of --help, validate, once")
    result: dict[str, Any] = {"importtime": {
        "help": _importtime(ctx, "help", ["--help"]),
        "validate": _importtime(ctx, "validate", ["validate", "-c", str(config)]),
        "once": _importtime(ctx, "once", ["once", "-c", str(config), "--kubeconfig",
                                          ctx.kubeconfig("syncer")]),
    }, "wall_median": {
        "help": _wall(ctx, "help", ["--help"]),
        "validate": _wall(ctx, "validate", ["validate", "-c", str(config)]),
    }}
    log(f"N={n}: profile: initial sync under cProfile")
    bk.delete_objects(ctx.core, layout.namespaces, syncer_parts.SELECTOR)
    result["cprofile"] = _cprofile(ctx, n, config, "initial")
    log(f"N={n}: profile: no-op cycle under cProfile")
    result["cprofile_noop"] = _cprofile(ctx, n, config, "noop")
    if ctx.opts.py_spy:
        log(f"N={n}: profile: initial sync sampled by py-spy")
        bk.delete_objects(ctx.core, layout.namespaces, syncer_parts.SELECTOR)
        result["pyspy"] = _pyspy(ctx, n, config)
    return result
