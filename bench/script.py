"""The script baseline step: ``bench/baseline.sh`` (``bao kv get`` + ``jq`` +
``kubectl apply`` per target) on a sample of the targets, extrapolated to N."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from bench import k8s as bk
from bench import layout as lay
from bench import openbao, procs
from bench.context import Context

SCRIPT_SELECTOR = "app.kubernetes.io/managed-by=bench-script"
BASELINE = Path(__file__).with_name("baseline.sh")


def run(ctx: Context, n: int) -> dict[str, Any]:
    sample = min(n, ctx.opts.script_sample)
    layout = lay.make(n, f"b{ctx.run_id}-sc{n}", f"bench/{ctx.run_id}/n{n}")
    targets = layout.targets[:sample]
    bk.create_namespaces(ctx.core, sorted({t.namespace for t in targets}))
    tsv = ctx.folder / f"script-{n}.tsv"
    tsv.write_text("".join(f"{t.namespace}\t{t.secret}\t{t.service_account}\t"
                           f"{layout.path(t.path)}\n" for t in targets))
    bao_bin = openbao.bao_binary()
    env = procs.scrubbed_env(
        PATH=os.pathsep.join([str(Path(bao_bin).parent), str(Path(ctx.kubectl).parent),
                              os.environ.get("PATH", "")]),
        BAO_ADDR=ctx.bao.addr, VAULT_ADDR=ctx.bao.addr, BAO_TOKEN=ctx.creds.token,
        VAULT_TOKEN=ctx.creds.token, KUBECONFIG=ctx.kubeconfig("script"),
        KUBECACHEDIR=str(ctx.folder / "kubecache"))
    # Warm kubectl's discovery cache once, as a cron job on a long-lived host would have.
    subprocess.run([ctx.kubectl, "api-resources", "--api-group="], env=env, check=False,
                   capture_output=True, timeout=120)
    ctx.mark_audits()
    meter = ctx.cpu_meter()
    measured = procs.run_measured(
        ["bash", str(BASELINE), str(tsv)], env=env,
        stdout=ctx.folder / f"script-{n}.out", stderr=ctx.folder / f"script-{n}.err",
        timeout=60 + sample * 15)
    cpu = meter.stop(measured.cpu_seconds)
    seconds = measured.wall
    estimate = seconds / sample * n
    result = {"rc": measured.returncode, "sample": sample, "seconds": seconds,
              "per_target": seconds / sample, "estimate_seconds": estimate,
              "extrapolated": sample < n, "objects_per_s": 2 * sample / seconds,
              "kube": ctx.kube_summary("script"), "vault": ctx.bao_summary(), "cpu": cpu}
    if measured.returncode != 0:
        result["error"] = (ctx.folder / f"script-{n}.err").read_text(errors="replace")[-400:]
    bk.delete_objects(ctx.core, sorted({t.namespace for t in targets}), SCRIPT_SELECTOR)
    return result
