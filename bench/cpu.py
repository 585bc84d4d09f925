"""Who spends the cores: CPU seconds of the servers, the client and the machine.

The long-running servers (kube-apiserver, etcd, the benchmark's OpenBao) are
read from ``/proc/<pid>/stat`` (utime + stime) before and after a step; the
measured client is a child, so its CPU comes from ``wait4``'s rusage when it is
reaped (see ``procs.run_measured``). ``machine`` is the busy time of all cores
from ``/proc/stat``, so ``other`` (machine minus everything named) shows load
from processes outside the benchmark.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
# /proc/stat cpu columns that count as busy: user nice system irq softirq steal.
BUSY_COLUMNS = (0, 1, 2, 5, 6, 7)


def process_seconds(pid: int) -> float | None:
    """utime + stime of a live process, in seconds; None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; the fields after its ')' are fixed.
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def machine_busy_seconds() -> float:
    with open("/proc/stat") as fh:
        columns = fh.readline().split()[1:]
    return sum(int(columns[i]) for i in BUSY_COLUMNS if i < len(columns)) / TICKS


@dataclass
class Meter:
    """CPU seconds per named server pid over one step: ``start()``, then ``stop()``."""

    pids: dict[str, int]
    _before: dict[str, float | None] = field(default_factory=dict)
    _machine: float = 0.0
    _started: float = 0.0

    def start(self) -> Meter:
        self._before = {name: process_seconds(pid) for name, pid in self.pids.items()}
        self._machine = machine_busy_seconds()
        self._started = time.monotonic()
        return self

    def stop(self, client_seconds: float | None = None) -> dict[str, float | None]:
        """{server: seconds, "client": .., "machine": .., "other": .., "wall": ..}."""
        out: dict[str, float | None] = {}
        for name, pid in self.pids.items():
            before, after = self._before.get(name), process_seconds(pid)
            out[name] = None if before is None or after is None else after - before
        out["client"] = client_seconds
        out["machine"] = machine_busy_seconds() - self._machine
        out["wall"] = time.monotonic() - self._started
        named = sum(v for k, v in out.items() if k not in ("machine", "wall") and v)
        out["other"] = max(0.0, (out["machine"] or 0.0) - named)
        return out
