"""The ``run`` daemon step: an AppRole login with a short token TTL, no-op cycles
for the window (steady RSS, logins, lists and Vault reads per cycle), then one
rotation of the hot path that the running daemon applies (its writes and the
Events it posts). Requests are attributed to cycles by ``bench/cycles.py``.
"""

from __future__ import annotations

import contextlib
import math
import os
import statistics
import time
from pathlib import Path
from typing import Any

from bench import cycles as cy
from bench import layout as lay
from bench import procs, vaultstats
from bench import syncer_steps as steps
from bench.audit import KubeAudit
from bench.context import BIN, Context


def read_cycles(path: Path) -> list[dict[str, Any]]:
    with contextlib.suppress(OSError), path.open(errors="replace") as fh:
        return cy.cycle_lines(fh)
    return []


class Seen:
    """When the harness first saw each ``cycle`` line (monotonic), for RSS windows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.at: list[float] = []

    def count(self) -> int:
        found = len(read_cycles(self.path))
        while len(self.at) < found:
            self.at.append(time.monotonic())
        return found


def _rotation(ctx: Context, layout: lay.Layout, proc: procs.Background, seen: Seen,
              ) -> tuple[float, int, int]:
    """Rotate the hot path under the running daemon; wait (bounded) for two more cycles
    (the one running at the write may have read Vault before it). Returns the write's
    epoch time, the new version and how many Secrets carry it afterwards."""
    before = seen.count()
    at = time.time()
    version = steps.new_version(ctx, layout, "daemon-rotated")
    limit = 4 * ctx.opts.daemon_interval + 120 + layout.n * 0.02
    proc.wait_for(lambda: seen.count() >= before + 2, timeout=limit, poll=0.25)
    return at, version, steps.applied(ctx, layout, version)


def _rotation_part(lines: list[dict[str, Any]], kube: list[dict[str, int]],
                   rotation: tuple[float, int, int], expected: int) -> dict[str, Any]:
    at, version, applied = rotation
    after = [i for i, c in enumerate(lines) if c["end"] > at]
    wrote = next((i for i in after if (lines[i].get("writes") or kube[i]["writes"])), None)
    return {
        "version": version, "expected_writes": expected, "applied": applied,
        "cycles": len(after),
        "writes": sum(kube[i]["writes"] for i in after),
        "lists": sum(kube[i]["lists"] for i in after),
        "event_creates": sum(kube[i]["event_creates"] for i in after),
        "event_patches": sum(kube[i]["event_patches"] for i in after),
        "seconds_until_applied": lines[wrote]["end"] - at if wrote is not None else None,
        "cycle_seconds": lines[wrote]["duration"] if wrote is not None else None,
    }


def daemon(ctx: Context, layout: lay.Layout, n: int) -> dict[str, Any]:
    """`kserve-vault-sync run` with an AppRole login of short TTL: steady RSS, logins,
    no-op cycles from the audit logs, then a rotation it applies."""
    secret_id_file = ctx.folder / "approle-secret-id"
    secret_id_file.write_text(ctx.creds.secret_id)
    os.chmod(secret_id_file, 0o600)
    config = steps.write_config(
        ctx, layout, f"daemon-{n}",
        {"method": "approle", "roleId": ctx.creds.role_id, "secretIdFile": str(secret_id_file)},
        interval=f"{ctx.opts.daemon_interval}s", jitter="0%")
    ctx.mark_audits()
    log_path = ctx.folder / f"daemon-{n}.log"
    started_at = time.time()
    proc = procs.Background(
        [str(BIN / "kserve-vault-sync"), "run", "-c", str(config), "--kubeconfig",
         ctx.kubeconfig("syncer"), "--listen="], env=procs.scrubbed_env(), log=log_path)
    window, wanted = ctx.opts.daemon_seconds, ctx.opts.min_daemon_cycles
    seen = Seen(log_path)
    # Bounded: the window, extended (at most by 2x + 10 min) until enough cycles ran and
    # one interval has passed since the last of those (the steady RSS samples).
    hard_stop = proc.started + 2 * window + 600

    def settled() -> bool:
        return (time.monotonic() - proc.started >= window and seen.count() >= wanted
                and time.monotonic() - seen.at[wanted - 1] >= ctx.opts.daemon_interval)

    proc.wait_for(settled, timeout=max(1.0, hard_stop - time.monotonic()), poll=0.25)
    steady_cycles = seen.count()
    steady_end = time.monotonic()
    elapsed = steady_end - proc.started
    rotation = _rotation(ctx, layout, proc, seen) if proc.alive() else None
    alive = proc.alive()
    rc = proc.stop()
    lines = read_cycles(log_path)
    ends = [c["end"] for c in lines]
    events = ctx.kube_events("syncer")
    kube = cy.kube_per_cycle(events, ends)
    records = ctx.bao_records()
    vault_cycles = cy.vault_per_cycle(records, ends)
    rotated_at = rotation[0] if rotation else float("inf")
    steady = [i for i, c in enumerate(lines) if c["end"] <= rotated_at]
    vault = {**ctx.bao_summary(time.time() - started_at),
             # the window before the rotation: the daemon's no-op rate and latency
             "noop": vaultstats.summary([r for r in records if r["start"] <= rotated_at],
                                        min(rotated_at, time.time()) - started_at)}
    gaps = ctx.login_gaps()
    durations = [lines[i]["duration"] for i in steady]
    steady_since = (seen.at[wanted - 1] if len(seen.at) >= wanted
                    else (seen.at[-1] if seen.at else proc.started))
    total = time.monotonic() - proc.started
    result: dict[str, Any] = {
        "window": elapsed, "cycles": len(steady), "rc": rc,
        "steady_rss_mib": proc.sampler.median_mib_since(steady_since, steady_end),
        "peak_rss_mib": proc.sampler.peak_mib, "vault": vault,
        "token_ttl": ctx.creds.token_ttl, "token_max_ttl": ctx.creds.token_max_ttl,
        "cycle_seconds_median": statistics.median(durations) if durations else None,
        "cycle_seconds_max": max(durations) if durations else None,
        "noop_cycle_seconds_median": (statistics.median(durations[1:])
                                      if len(durations) > 1 else None),
        "login_gaps": gaps,
        # Steady state: one login per mean gap between logins; with a single login in
        # the run only an upper bound (one per run) can be given.
        "logins_per_hour": (3600 / statistics.mean(gaps) if gaps
                            else vault["logins"] * 3600 / total),
        "logins_per_hour_is_bound": not gaps,
        "renewals_per_hour": vault["renewals"] * 3600 / total,
        "expected_logins": math.ceil(total / ctx.creds.token_max_ttl),
        "expected_logins_per_hour": 3600 / ctx.creds.token_max_ttl,
        "cycles_per_hour": len(steady) * 3600 / elapsed,
        "kv_reads_per_cycle": vault["noop"]["by_class"]["kv data"] / max(1, len(steady)),
        "per_cycle": {"kube": kube, "vault": vault_cycles},
        "noop": cy.noop_summary([kube[i] for i in steady], [vault_cycles[i] for i in steady],
                                layout.paths) if steady else None,
        "kube": KubeAudit.summary(events),
    }
    if rotation:
        result["rotation"] = _rotation_part(lines, kube, rotation, len(layout.hot_targets))
    if not alive:
        result["error"] = f"daemon exited early (code {rc}); see {log_path}"
    elif steady_cycles < wanted:
        result["error"] = (f"only {steady_cycles} cycles in {elapsed:.0f}s; steady RSS "
                           "taken after the last one")
    elif result.get("rotation") and result["rotation"]["applied"] != len(layout.hot_targets):
        result["error"] = (f"the daemon applied the rotation to {result['rotation']['applied']}"
                           f" of {len(layout.hot_targets)} Secrets")
    return result
