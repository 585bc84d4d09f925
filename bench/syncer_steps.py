"""The syncer's steps, each a real ``kserve-vault-sync`` process: ``once`` (initial
sync, no-op, rotation) and the ``run`` daemon with a short-TTL AppRole login.

Requests are counted from the servers' audit logs, RSS from /proc, CPU from the
process's rusage and the servers' /proc/<pid>/stat.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import statistics
import time
from pathlib import Path
from typing import Any

from bench import k8s as bk
from bench import layout as lay
from bench import procs, syncer_parts
from bench.context import BIN, Context

SUMMARY_LINE = re.compile(r"(\d+) objects: (.*); (\d+) Vault reads; (\d+) failed entries; "
                          r"([\d.]+)s$")


def parse_once(stdout: Path) -> dict[str, Any]:
    """The counts and cycle time from the summary line ``once`` prints last (a wrapper
    such as py-spy may print after it)."""
    with stdout.open("rb") as fh:
        with contextlib.suppress(OSError):
            fh.seek(-8192, os.SEEK_END)
        lines = [line.strip() for line in fh.read().decode(errors="replace").splitlines()
                 if line.strip()]
    match = next(filter(None, (SUMMARY_LINE.search(line) for line in reversed(lines))), None)
    if not match:
        return {"summary": lines[-1][:300] if lines else ""}
    counts = {k: int(v) for v, k in (part.split(" ", 1) for part in match.group(2).split(", ")
                                     if " " in part)}
    return {"objects": int(match.group(1)), "counts": counts,
            "vault_reads": int(match.group(3)), "failed_entries": int(match.group(4)),
            "cycle": float(match.group(5)),
            "writes": sum(counts.get(k, 0) for k in ("created", "updated", "deleted"))}


def write_config(ctx: Context, layout: lay.Layout, name: str, auth: dict[str, Any],
                 **sync: Any) -> Path:
    path = ctx.folder / f"{name}.yaml"
    path.write_text(lay.config(layout, vault_address=ctx.bao.addr, auth=auth,
                               concurrency=ctx.opts.concurrency, **sync))
    return path


def once(ctx: Context, config: Path, label: str, n: int) -> dict[str, Any]:
    """`kserve-vault-sync once` as a subprocess; RSS sampled; audits and CPU counted."""
    ctx.mark_audits()
    out, err = ctx.folder / f"{label}.out", ctx.folder / f"{label}.err"
    meter = ctx.cpu_meter()
    measured = procs.run_measured(
        [str(BIN / "kserve-vault-sync"), "once", "-c", str(config), "--kubeconfig",
         ctx.kubeconfig("syncer")],
        env=procs.scrubbed_env(), stdout=out, stderr=err, timeout=300 + n * 0.5)
    cpu = meter.stop(measured.cpu_seconds)
    result = {"rc": measured.returncode, "wall": measured.wall,
              "peak_rss_mib": measured.peak_rss_mib, **parse_once(out),
              "kube": ctx.kube_summary("syncer"), "vault": ctx.bao_summary(), "cpu": cpu}
    if measured.returncode != 0:
        result["error"] = (f"exit {measured.returncode}; see {err}: "
                           + err.read_text(errors="replace")[-400:])
    return result


def put_paths(ctx: Context, layout: lay.Layout) -> None:
    client = ctx.bao.client()

    def put(p: int) -> None:
        client.secrets.kv.v2.create_or_update_secret(
            path=layout.path(p), mount_point="secret",
            secret={"access_key": ctx.opts.values(f"bench-ak-{p}"),
                    "secret_key": ctx.opts.values(f"bench-sk-{p}")})

    bk.parallel(put, range(layout.paths))


def rotate(ctx: Context, layout: lay.Layout, n: int, config: Path) -> dict[str, Any]:
    """A new version of the hot path, then `once`; checks every affected Secret."""
    client = ctx.bao.client()
    client.secrets.kv.v2.create_or_update_secret(
        path=layout.path(0), mount_point="secret",
        secret={"access_key": ctx.opts.values("bench-ak-rotated"),
                "secret_key": ctx.opts.values("bench-sk-rotated")})
    version = client.secrets.kv.v2.read_secret_metadata(
        path=layout.path(0), mount_point="secret")["data"]["current_version"]
    result = once(ctx, config, f"rotation-{n}", n)
    want = f"secret/{layout.path(0)}@{version}"
    hot = {(t.namespace, t.secret) for t in layout.hot_targets}
    applied = 0
    for item in bk.list_secrets(ctx.core, syncer_parts.SELECTOR):
        meta = item["metadata"]
        if (meta["namespace"], meta["name"]) in hot and \
                (meta.get("annotations") or {}).get("kserve-vault-sync/source") == want:
            applied += 1
    result.update(expected_writes=len(hot), applied=applied)
    return result


class _CycleLog:
    """The daemon's "cycle" log events, and when the harness first saw each."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen_at: list[float] = []
        self.durations: list[float] = []

    def count(self) -> int:
        found = []
        with contextlib.suppress(OSError), self.path.open(errors="replace") as fh:
            for line in fh:
                if '"cycle"' in line:
                    with contextlib.suppress(ValueError):
                        event = json.loads(line)
                        if event.get("event") == "cycle":
                            found.append(float(event.get("duration") or 0))
        while len(self.seen_at) < len(found):
            self.seen_at.append(time.monotonic())
        self.durations[:] = found
        return len(found)


def daemon(ctx: Context, layout: lay.Layout, n: int) -> dict[str, Any]:
    """`kserve-vault-sync run` with an AppRole login of short TTL: steady RSS, logins."""
    secret_id_file = ctx.folder / "approle-secret-id"
    secret_id_file.write_text(ctx.creds.secret_id)
    os.chmod(secret_id_file, 0o600)
    config = write_config(
        ctx, layout, f"daemon-{n}",
        {"method": "approle", "roleId": ctx.creds.role_id, "secretIdFile": str(secret_id_file)},
        interval=f"{ctx.opts.daemon_interval}s", jitter="0%")
    ctx.mark_audits()
    log_path = ctx.folder / f"daemon-{n}.log"
    proc = procs.Background(
        [str(BIN / "kserve-vault-sync"), "run", "-c", str(config), "--kubeconfig",
         ctx.kubeconfig("syncer"), "--listen="], env=procs.scrubbed_env(), log=log_path)
    window, wanted = ctx.opts.daemon_seconds, ctx.opts.min_daemon_cycles
    cycles = _CycleLog(log_path)
    # Bounded: the window, extended (at most by 2x + 10 min) until enough cycles ran.
    hard_stop = proc.started + 2 * window + 600
    proc.wait_for(lambda: time.monotonic() - proc.started >= window and cycles.count() >= wanted,
                  timeout=max(1.0, hard_stop - time.monotonic()), poll=0.25)
    cycles.count()
    elapsed = time.monotonic() - proc.started
    alive = proc.alive()
    rc = proc.stop()
    vault = ctx.bao_summary()
    gaps = ctx.login_gaps()
    seen, durations = cycles.seen_at, cycles.durations
    steady_since = (seen[wanted - 1] if len(seen) >= wanted
                    else (seen[-1] if seen else proc.started))
    result: dict[str, Any] = {
        "window": elapsed, "cycles": len(seen), "rc": rc,
        "steady_rss_mib": proc.sampler.median_mib_since(steady_since),
        "peak_rss_mib": proc.sampler.peak_mib, "vault": vault,
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
        "cycles_per_hour": len(seen) * 3600 / elapsed,
        "kv_reads_per_cycle": vault["kv_reads"] / max(1, len(seen)),
    }
    if not alive:
        result["error"] = f"daemon exited early (code {rc}); see {log_path}"
    elif len(seen) < wanted:
        result["error"] = (f"only {len(seen)} cycles in {elapsed:.0f}s; steady RSS "
                           "taken after the last one")
    return result
