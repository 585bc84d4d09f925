"""How the dev environment reports and builds: one logger for every devenv module,
a build step that shows it is alive, a cache lock, and an install that never
leaves half a file in the cache."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

GOPROXY = os.environ.get("GOPROXY", "https://proxy.golang.org").split(",")[0]


def log(msg: str) -> None:
    """A progress line on stderr (stdout is for what a command prints)."""
    print(f"[dev-env] {msg}", file=sys.stderr, flush=True)


def fetch_mod(module: str, version: str) -> str:
    """A module's go.mod from the Go module proxy."""
    url = f"{GOPROXY}/{module}/@v/{version}.mod"
    with urllib.request.urlopen(url, timeout=60) as resp:  # noqa: S310 - fixed https proxy URL
        text: str = resp.read().decode()
    return text


def run_logged(cmd: list[str], cwd: Path, what: str, env: dict[str, str] | None = None
               ) -> None:
    """Run a build command into cwd/build.log, printing a heartbeat so a
    minutes-long build shows progress; on failure raise with the log's tail."""
    log(f"{what}: {' '.join(cmd)}")
    start = time.monotonic()
    log_path = cwd / "build.log"
    with log_path.open("ab") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        while True:
            try:
                rc = proc.wait(timeout=30)
                break
            except subprocess.TimeoutExpired:
                log(f"  ... {what} still running ({time.monotonic() - start:.0f}s)")
    if rc != 0:
        tail = log_path.read_text(errors="replace").splitlines()[-30:]
        raise RuntimeError(f"{what} failed (exit {rc}); last lines:\n" + "\n".join(tail))
    log(f"{what}: done in {time.monotonic() - start:.0f}s")


@contextmanager
def locked(folder: Path, name: str) -> Iterator[None]:
    """Hold an exclusive lock on ``folder/.<name>.lock`` (waits for another builder)."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f".{name}.lock").open("a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"another process is preparing {name}; waiting for it")
            fcntl.flock(fh, fcntl.LOCK_EX)
        yield  # closing the file releases the lock, even on an exception


def install(source: Path, target: Path) -> None:
    """Copy into the cache, then rename: an interrupted run never leaves half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    shutil.copyfile(source, partial)
    partial.chmod(0o755 if os.access(source, os.X_OK) else 0o644)  # module cache files are 0444
    partial.replace(target)
