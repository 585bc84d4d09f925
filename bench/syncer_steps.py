"""The syncer's ``once`` steps, each a real ``kserve-vault-sync`` process: initial
sync, no-op and rotation (the ``run`` daemon: ``bench/daemon_step.py``).

Requests are counted from the servers' audit logs, RSS from /proc, CPU from the
process's rusage and the servers' /proc/<pid>/stat.
"""

from __future__ import annotations

import contextlib
import os
import re
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
              "kube": ctx.kube_summary("syncer"), "vault": ctx.bao_summary(measured.wall),
              "cpu": cpu}
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


def new_version(ctx: Context, layout: lay.Layout, label: str) -> int:
    """Write a new version of the hot path (root token); return its number."""
    client = ctx.bao.client()
    client.secrets.kv.v2.create_or_update_secret(
        path=layout.path(0), mount_point="secret",
        secret={"access_key": ctx.opts.values(f"bench-ak-{label}"),
                "secret_key": ctx.opts.values(f"bench-sk-{label}")})
    return int(client.secrets.kv.v2.read_secret_metadata(
        path=layout.path(0), mount_point="secret")["data"]["current_version"])


def applied(ctx: Context, layout: lay.Layout, version: int) -> int:
    """How many of the hot path's Secrets carry ``version`` in their source annotation."""
    want = f"secret/{layout.path(0)}@{version}"
    hot = {(t.namespace, t.secret) for t in layout.hot_targets}
    count = 0
    for item in bk.list_secrets(ctx.core, syncer_parts.SELECTOR):
        meta = item["metadata"]
        if (meta["namespace"], meta["name"]) in hot and \
                (meta.get("annotations") or {}).get("kserve-vault-sync/source") == want:
            count += 1
    return count


def rotate(ctx: Context, layout: lay.Layout, n: int, config: Path) -> dict[str, Any]:
    """A new version of the hot path, then `once`; checks every affected Secret."""
    version = new_version(ctx, layout, "rotated")
    result = once(ctx, config, f"rotation-{n}", n)
    result.update(expected_writes=len(layout.hot_targets),
                  applied=applied(ctx, layout, version))
    return result
