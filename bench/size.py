"""One size N of the scale benchmark: the floors and the syncer's initial sync
(``--repeat`` times, interleaved), the no-op, rotation and daemon steps, the
script baseline and the optional profile, with the ratios derived from them."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from bench import daemon_step, floors, profile_step, script, syncer_parts
from bench import k8s as bk
from bench import layout as lay
from bench import syncer_steps as steps
from bench.context import Context, log


def _num(row: dict[str, Any], part: str, key: str) -> float | None:
    value = (row.get(part) or {}).get(key)
    return float(value) if isinstance(value, int | float) and value else None


def derive(row: dict[str, Any]) -> None:
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


def run(ctx: Context, n: int) -> dict[str, Any]:
    """Every step for N targets; a failing step is recorded in the row, not raised."""
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
        row["daemon"] = daemon_step.daemon(ctx, layout, n)
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
    derive(row)
    row["seconds"] = time.monotonic() - t0
    log(f"N={n}: done in {row['seconds']:.0f}s")
    return row
