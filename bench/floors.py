"""The floors: the syncer's initial-sync creates posted with nothing else in the way.

Every floor posts the same file of bodies (``bench/syncer_parts.py``: the syncer's own
render + diff) into the same namespaces, one run after another, and the objects
are deleted between runs:

- the **Go floor** (``bench/floor_go``) over HTTP/2 at each of
  ``--floor-concurrency`` (8, 32, 64, 128); the best of them is *the* floor;
- optionally the Go floor over HTTP/1.1 (``--go-http1``) and Python prototypes
  (``bench/pyfloor.py``: httpx over HTTP/2 with ``--python-h2``, bare urllib3 over
  HTTP/1.1 with ``--python-urllib3``), to tell the protocol from the language;
- the **Python-client floor** (``bench/floor.py``): the official client with the
  syncer's limits, as before.

Each run records its wall time, the server-side request counts from the audit
log, and the CPU seconds of the client, the API server, etcd and the machine.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench import gobuild, procs, syncer_parts, venvs
from bench import k8s as bk
from bench import layout as lay
from bench.context import REPO, Context, log

PYFLOOR = Path(__file__).with_name("pyfloor.py")


def _measure(ctx: Context, n: int, layout: lay.Layout, label: str, *, argv: list[str],
             env: dict[str, str], about: dict[str, Any]) -> dict[str, Any]:
    """Run one floor process, then delete what it created."""
    ctx.mark_audits()
    out, err = ctx.folder / f"{label}.out", ctx.folder / f"{label}.err"
    meter = ctx.cpu_meter()
    measured = procs.run_measured(argv, env=env, stdout=out, stderr=err,
                                  timeout=300 + n * 0.5, cwd=str(REPO))
    cpu = meter.stop(measured.cpu_seconds)
    result: dict[str, Any] = {**about, "rc": measured.returncode, "wall": measured.wall}
    try:
        result.update(json.loads(out.read_text().strip().splitlines()[-1]))
    except (ValueError, IndexError):
        result["error"] = err.read_text(errors="replace")[-400:]
    if measured.returncode != 0 and "error" not in result:
        result["error"] = (f"exit {measured.returncode}: "
                           + err.read_text(errors="replace")[-400:])
    result["kube"] = ctx.kube_summary("floor")
    result["cpu"] = cpu
    if result.get("seconds"):
        result["objects_per_s"] = 2 * n / result["seconds"]
    bk.delete_objects(ctx.core, layout.namespaces, syncer_parts.SELECTOR)
    return result


def _go(ctx: Context, n: int, layout: lay.Layout, creates: Path, concurrency: int, *,
        http1: bool = False, rep: int = 0) -> dict[str, Any]:
    floor = ctx.identities["floor"]
    argv = [str(gobuild.floor_binary()), "-server", ctx.env.apiserver_url, "-ca",
            ctx.env.ca_cert, "-token-file", str(floor.token_file), "-bodies", str(creates),
            "-concurrency", str(concurrency)] + (["-http1"] if http1 else [])
    label = f"floor-go{'-http1' if http1 else ''}-c{concurrency}-{n}-{rep}"
    return _measure(ctx, n, layout, label, argv=argv, env=procs.scrubbed_env(),
                    about={"impl": "go", "concurrency": concurrency, "rep": rep})


def _python(ctx: Context, n: int, layout: lay.Layout, creates: Path, concurrency: int, *,
            transport: str, rep: int = 0) -> dict[str, Any]:
    """A Python prototype floor (bench/pyfloor.py): httpx over HTTP/2 from its cached venv,
    or urllib3 over HTTP/1.1 from the project's."""
    python = (venvs.ensure(venvs.H2) / "python" if transport == "httpx-h2"
              else Path(sys.executable))
    floor = ctx.identities["floor"]
    argv = [str(python), str(PYFLOOR), "--transport", transport, "--server",
            ctx.env.apiserver_url, "--ca", ctx.env.ca_cert, "--token-file",
            str(floor.token_file), "--bodies", str(creates), "--concurrency", str(concurrency)]
    impl = "python-httpx" if transport == "httpx-h2" else "python-urllib3"
    return _measure(ctx, n, layout, f"floor-{impl}-c{concurrency}-{n}-{rep}", argv=argv,
                    env=procs.scrubbed_env(),
                    about={"impl": impl, "concurrency": concurrency, "rep": rep})


def _python_client(ctx: Context, n: int, layout: lay.Layout, creates: Path, *,
                   rep: int = 0) -> dict[str, Any]:
    argv = [sys.executable, "-m", "bench.floor", "--kubeconfig", ctx.kubeconfig("floor"),
            "--bodies", str(creates), "--concurrency", str(ctx.opts.concurrency)]
    return _measure(ctx, n, layout, f"floor-{n}-{rep}", argv=argv,
                    env=procs.scrubbed_env(PYTHONPATH=str(REPO)),
                    about={"impl": "python-kubernetes", "proto": "HTTP/1.1",
                           "concurrency": ctx.opts.concurrency, "rep": rep})


def best(floors: list[dict[str, Any]], n: int) -> dict[str, Any] | None:
    """The fastest complete Go HTTP/2 run: the floor the syncer is measured against."""
    done = [f for f in floors if f.get("impl") == "go" and f.get("proto") == "HTTP/2.0"
            and f.get("rc") == 0 and f.get("created") == 2 * n and f.get("seconds")]
    if not done:
        return None
    top = min(done, key=lambda f: float(f["seconds"]))
    return {"seconds": top["seconds"], "concurrency": top["concurrency"],
            "objects_per_s": top.get("objects_per_s"), "rep": top.get("rep", 0),
            "work": work(top.get("cpu"))}


def work(cpu: dict[str, Any] | None) -> float | None:
    """CPU seconds the run cost the client and the servers together: on a machine with
    nothing else running, wall time cannot go below this divided by the cores."""
    if not cpu or cpu.get("client") is None or cpu.get("kube-apiserver") is None:
        return None
    return float(sum(cpu.get(k) or 0.0 for k in ("client", "kube-apiserver", "etcd",
                                                  "openbao")))


def run(ctx: Context, n: int, rep: int = 0) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the Python-client floor, every other floor run) for N targets; ``rep`` numbers
    the repetition (``--repeat``)."""
    opts = ctx.opts
    layout = lay.make(n, f"b{ctx.run_id}-fl{n}", f"bench/{ctx.run_id}/n{n}")
    bk.create_namespaces(ctx.core, layout.namespaces)
    creates = syncer_parts.write(
        ctx.folder / f"floor-{n}.jsonl",
        syncer_parts.render_creates(layout, syncer_parts.vault_reader(ctx.bao.client()),
                                    ctx.bao.addr))
    floors: list[dict[str, Any]] = []
    try:
        plan = ([("go h2", c) for c in opts.floor_concurrency]
                + [("go http/1.1", c) for c in opts.go_http1]
                + [("httpx-h2", c) for c in opts.python_h2]
                + [("urllib3", c) for c in opts.python_urllib3])
        for what, c in plan:
            if what == "go h2":
                floors.append(_go(ctx, n, layout, creates, c, rep=rep))
            elif what == "go http/1.1":
                floors.append(_go(ctx, n, layout, creates, c, http1=True, rep=rep))
            else:
                floors.append(_python(ctx, n, layout, creates, c, transport=what, rep=rep))
            got = floors[-1]
            log(f"N={n}: floor {what} x{c}: {got.get('seconds', 0):.2f}s "
                f"({got.get('proto', '?')}, {got.get('connections', '?')} connections, "
                f"API server CPU {got['cpu'].get('kube-apiserver') or 0:.1f}s)")
        python = _python_client(ctx, n, layout, creates, rep=rep)
        log(f"N={n}: Python-client floor x{opts.concurrency}: "
            f"{python.get('seconds', 0):.2f}s")
    finally:
        creates.unlink()
    return python, floors
