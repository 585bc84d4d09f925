"""The daemon in-process under tracemalloc, for ``bench/memory.py`` (not run alone).

    python -X tracemalloc=1 -m bench.memory_child OUT.json CYCLES -- run -c CFG ...

Runs ``kserve-vault-sync run`` through its own CLI entry point (``KVS_MAX_CYCLES``
ends it) and, after each cycle has finished (its memory already released), takes
a tracemalloc snapshot at the cycles asked for: the biggest allocation sites by
file and line, by file, the objects alive by type, and VmRSS from /proc. One
frame per allocation keeps tracemalloc's own overhead low; RSS here includes that
overhead, so the plain run in ``bench/memory.py`` gives the RSS figures.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import threading
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

TOP_LINES, TOP_FILES, TOP_TYPES = 30, 20, 15


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _where(filename: str) -> str:
    """A path without this machine's prefix: site-packages/..., stdlib/..., syncer/..."""
    for marker in ("site-packages/", "/lib/python3."):
        if marker in filename:
            return filename.split(marker, 1)[1]
    i = filename.rfind("/syncer/")
    return filename[i + 1:] if i >= 0 else filename


def snapshot(label: str) -> dict[str, Any]:
    gc.collect()
    snap = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)])
    lines = snap.statistics("lineno")
    files = snap.statistics("filename")
    types = Counter(type(o).__name__ for o in gc.get_objects())
    return {
        "label": label, "rss_kib": rss_kib(),
        "traced_kib": sum(s.size for s in lines) / 1024,
        "tracemalloc_overhead_kib": tracemalloc.get_tracemalloc_memory() / 1024,
        "top_lines": [{"where": f"{_where(s.traceback[0].filename)}:{s.traceback[0].lineno}",
                       "kib": s.size / 1024, "count": s.count} for s in lines[:TOP_LINES]],
        "top_files": [{"where": _where(s.traceback[0].filename), "kib": s.size / 1024,
                       "count": s.count} for s in files[:TOP_FILES]],
        "gc_objects_by_type": dict(types.most_common(TOP_TYPES)),
    }


def main(argv: list[str]) -> int:
    out, wanted = Path(argv[0]), {int(c) for c in argv[1].split(",")}
    cli_args = argv[argv.index("--") + 1:]
    from syncer import cli, service

    taken: list[dict[str, Any]] = []
    lock = threading.Lock()
    original = service.Daemon.cycle

    def cycle(self: service.Daemon, only: list[str] | None = None) -> None:
        original(self, only)
        with lock:
            if self.cycles in wanted and all(s["cycle"] != self.cycles for s in taken):
                taken.append({"cycle": self.cycles, **snapshot(f"after cycle {self.cycles}")})
                out.write_text(json.dumps({"snapshots": taken}))

    setattr(service.Daemon, "cycle", cycle)  # noqa: B010 - measuring, not changing it
    os.environ["KVS_MAX_CYCLES"] = str(max(wanted))
    rc = cli.main(cli_args)
    out.write_text(json.dumps({"snapshots": taken, "rc": rc,
                               "modules": sorted(sys.modules)}))
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
