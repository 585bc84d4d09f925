"""Child processes the benchmark measures: wall time and RSS from /proc.

Every process is started here and stopped by its own pid (SIGTERM, then
SIGKILL after a bounded wait); nothing is ever signalled by name.
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

SAMPLE_EVERY = 0.05  # seconds between /proc/<pid>/status reads


def _status_kib(pid: int) -> tuple[int, int] | None:
    """(VmRSS, VmHWM) in KiB, or None once the process is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    rss = hwm = 0
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
        elif line.startswith("VmHWM:"):
            hwm = int(line.split()[1])
    return (rss, hwm) if rss else None


@dataclass
class RssSampler:
    """Samples VmRSS (and the kernel's own peak, VmHWM) every 50 ms in a thread."""

    pid: int
    samples: list[tuple[float, int]] = field(default_factory=list)  # (monotonic, KiB)
    hwm_kib: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> RssSampler:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            got = _status_kib(self.pid)
            if got is None:
                return
            self.samples.append((time.monotonic(), got[0]))
            self.hwm_kib = max(self.hwm_kib, got[1])
            self._stop.wait(SAMPLE_EVERY)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def peak_mib(self) -> float:
        peak = max([kib for _, kib in self.samples] + [self.hwm_kib, 0])
        return peak / 1024

    def median_mib_since(self, since: float, until: float = float("inf")) -> float | None:
        values = [kib for t, kib in self.samples if since <= t <= until]
        return statistics.median(values) / 1024 if values else None


def stop_pid(proc: subprocess.Popen[bytes], grace: float = 30.0) -> int:
    """SIGTERM this process (by its own pid), SIGKILL after ``grace`` seconds."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
    return proc.returncode


@dataclass
class Measured:
    returncode: int
    wall: float
    peak_rss_mib: float
    cpu_seconds: float  # user + system of the child and its reaped children (rusage)
    stdout: Path
    stderr: Path


class _Reaper:
    """Reaps one child with ``wait4`` in a thread: its exit status and rusage, exactly
    when it exits (Popen.wait would discard the rusage)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.status: int | None = None
        self.cpu_seconds = 0.0
        self.exited_at = 0.0
        self._thread = threading.Thread(target=self._wait, daemon=True)
        self._thread.start()

    def _wait(self) -> None:
        _, status, usage = os.wait4(self.pid, 0)
        self.exited_at = time.monotonic()
        self.cpu_seconds = usage.ru_utime + usage.ru_stime
        self.status = status

    def join(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM by pid, SIGKILL after ``grace``; the thread reaps it."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if self.status is not None:
                return
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)
            if self.join(grace):
                return


def run_measured(argv: list[str], *, env: dict[str, str], stdout: Path, stderr: Path,
                 timeout: float, cwd: str | None = None) -> Measured:
    """Run to completion (bounded by ``timeout``), sampling RSS; wall time from spawn to
    exit, CPU seconds from the child's rusage."""
    with stdout.open("wb") as out, stderr.open("wb") as err:
        started = time.monotonic()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                env=env, cwd=cwd)
        sampler = RssSampler(proc.pid).start()
        reaper = _Reaper(proc.pid)
        try:
            if not reaper.join(timeout):
                reaper.stop()
                raise TimeoutError(f"{argv[0]} {argv[1] if len(argv) > 1 else ''} did not "
                                   f"finish within {timeout:.0f}s")
        finally:
            sampler.stop()
    if reaper.status is None:  # join() returned True, so the reaper has it
        raise RuntimeError(f"{argv[0]}: exit status lost")
    proc.returncode = os.waitstatus_to_exitcode(reaper.status)  # reaped here, not by Popen
    return Measured(proc.returncode, reaper.exited_at - started, sampler.peak_mib,
                    reaper.cpu_seconds, stdout, stderr)


class Background:
    """A long-running child (the daemon, a server) with an RSS sampler."""

    def __init__(self, argv: list[str], *, env: dict[str, str], log: Path,
                 cwd: str | None = None) -> None:
        self.log_path = log
        self._log = log.open("wb")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env, cwd=cwd)
        self.sampler = RssSampler(self.proc.pid).start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_for(self, check: Callable[[], bool], timeout: float, poll: float = 0.2) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return True
            if not self.alive():
                return False
            time.sleep(poll)
        return check()

    def stop(self) -> int:
        try:
            return stop_pid(self.proc)
        finally:
            self.sampler.stop()
            with contextlib.suppress(OSError):
                self._log.close()


def scrubbed_env(**extra: str) -> dict[str, str]:
    """The caller's environment without Vault/OpenBao settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_", "KVS_"))}
    env.update(extra)
    return env
