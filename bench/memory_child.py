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
import re
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
    """A path without this machine's prefix: package/..., stdlib module, syncer/..."""
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1]
    stdlib = re.split(r"/lib/python3\.\d+/", filename, maxsplit=1)
    if len(stdlib) == 2:
        return stdlib[1]
    i = max(filename.rfind("/syncer/"), filename.rfind("/bench/"))
    return filename[i + 1:] if i >= 0 else filename


def _stats(stats: list[tracemalloc.Statistic] | list[tracemalloc.StatisticDiff], n: int,
           lineno: bool) -> list[dict[str, Any]]:
    out = []
    for s in stats[:n]:
        frame = s.traceback[0]
        where = _where(frame.filename) + (f":{frame.lineno}" if lineno else "")
        row: dict[str, Any] = {"where": where, "kib": s.size / 1024, "count": s.count}
        if isinstance(s, tracemalloc.StatisticDiff):
            row.update(kib_diff=s.size_diff / 1024, count_diff=s.count_diff)
        out.append(row)
    return out


def snapshot(label: str, base: tracemalloc.Snapshot | None) -> tuple[dict[str, Any],
                                                                       tracemalloc.Snapshot]:
    """Top sites now, and (with ``base``) what grew since the daemon started cycling:
    the state a cycle leaves behind, apart from what importing the modules cost."""
    gc.collect()
    types = Counter(type(o).__name__ for o in gc.get_objects())  # before the statistics
    snap = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)])
    lines = snap.statistics("lineno")
    out: dict[str, Any] = {
        "label": label, "rss_kib": rss_kib(),
        "traced_kib": sum(s.size for s in lines) / 1024,
        "tracemalloc_overhead_kib": tracemalloc.get_tracemalloc_memory() / 1024,
        "top_lines": _stats(lines, TOP_LINES, True),
        "top_files": _stats(snap.statistics("filename"), TOP_FILES, False),
        "gc_objects_by_type": dict(types.most_common(TOP_TYPES)),
    }
    if base is not None:
        grown = snap.compare_to(base, "lineno")
        out["grown_kib"] = sum(s.size_diff for s in grown) / 1024
        out["grown_lines"] = _stats(sorted(grown, key=lambda s: -s.size_diff), TOP_LINES, True)
        out["grown_files"] = _stats(sorted(snap.compare_to(base, "filename"),
                                           key=lambda s: -s.size_diff), TOP_FILES, False)
    return out, snap


def main(argv: list[str]) -> int:
    out, wanted = Path(argv[0]), {int(c) for c in argv[1].split(",")}
    cli_args = argv[argv.index("--") + 1:]
    from syncer import cli, service

    taken: list[dict[str, Any]] = []
    lock = threading.Lock()
    original = service.Daemon.cycle
    base: list[tracemalloc.Snapshot] = []

    def cycle(self: service.Daemon, only: list[str] | None = None) -> None:
        with lock:
            if not base:  # the daemon is built and its modules imported; no cycle yet
                first, snap = snapshot("before the first cycle", None)
                taken.append({"cycle": 0, **first})
                base.append(snap)
        original(self, only)
        with lock:
            if self.cycles in wanted and all(s["cycle"] != self.cycles for s in taken):
                row, _ = snapshot(f"after cycle {self.cycles}", base[0])
                taken.append({"cycle": self.cycles, **row})
                out.write_text(json.dumps({"snapshots": taken}))

    setattr(service.Daemon, "cycle", cycle)  # noqa: B010 - measuring, not changing it
    os.environ["KVS_MAX_CYCLES"] = str(max(wanted))
    rc = cli.main(cli_args)
    out.write_text(json.dumps({"snapshots": taken, "rc": rc,
                               "modules": sorted(sys.modules)}))
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
