"""KV v2: would reading ``secret/metadata/<path>`` (``current_version``) and skipping
the data read of an unchanged path make a cycle cheaper?

P fresh paths are written, then read P times as data and P times as metadata
with the syncer's own Vault reader (``bench/syncer_parts.syncer_vault``: hvac on
one requests Session, the syncer's retry policy), sequentially and with 8
threads (the syncer's default concurrency), ``repeat`` times interleaved; the
fastest of each counts. ``both`` is metadata then data for every path (a cycle
where every path changed). Measured only: the syncer is not changed by this.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench import k8s as bk
from bench import syncer_parts
from bench.context import Context, log

THREADS = (1, 8)


def _timed(paths: list[str], threads: int, read: Callable[[str], object]) -> float:
    started = time.perf_counter()
    if threads == 1:
        for path in paths:
            read(path)
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(read, paths))
    return time.perf_counter() - started


def run(ctx: Context, sizes: tuple[int, ...], repeat: int = 3) -> list[dict[str, Any]]:
    client = ctx.bao.client()
    token_file = ctx.folder / "vault-token"
    token_file.write_text(ctx.creds.token)
    token_file.chmod(0o600)
    vault = syncer_parts.syncer_vault(ctx.bao.addr, token_file)
    out = []
    for p in sizes:
        paths = [f"bench/{ctx.run_id}/kvmeta-{p}/m{k:05d}" for k in range(p)]
        bk.parallel(lambda path: client.secrets.kv.v2.create_or_update_secret(
            path=path, mount_point="secret",
            secret={"access_key": ctx.opts.values(f"kvmeta-ak-{path}"),
                    "secret_key": ctx.opts.values(f"kvmeta-sk-{path}")}), paths)
        vault.read("secret", paths[0], 2)  # log in and open the connection first
        kinds: dict[str, Callable[[str], object]] = {
            "data": lambda path: vault.read("secret", path, 2),
            "metadata": lambda path: vault.read_metadata("secret", path),
            "both": lambda path: (vault.read_metadata("secret", path),
                                  vault.read("secret", path, 2)),
        }
        for threads in THREADS:
            best: dict[str, float] = {}
            for _ in range(repeat):
                for kind, read in kinds.items():
                    seconds = _timed(paths, threads, read)
                    best[kind] = min(best.get(kind, seconds), seconds)
            row = {"paths": p, "threads": threads, "repeat": repeat,
                   **{f"{kind}_s": s for kind, s in best.items()}}
            log(f"KV metadata: P={p} x{threads}: data {best['data']:.3f}s, metadata "
                f"{best['metadata']:.3f}s, both {best['both']:.3f}s")
            out.append(row)
    return out
