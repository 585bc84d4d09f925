"""Build the Go floor (bench/floor_go, standard library only) on demand, cached.

The binary goes to ``~/.cache/kserve-vault-sync/bench/floor-go-<key>``, where
the key hashes the sources and ``go version``: an unchanged floor is built
once per machine (a few seconds on 2 cores), a changed one is rebuilt. The
build runs under a lock, so concurrent runs do not build twice.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench import venvs

SOURCE = Path(__file__).with_name("floor_go")


def _go() -> str:
    found = shutil.which("go")
    if not found:
        raise RuntimeError("the Go floor needs Go on PATH (it builds bench/floor_go)")
    return found


def _key(go: str) -> str:
    digest = hashlib.sha256()
    digest.update(subprocess.run([go, "version"], capture_output=True, check=True,
                                 timeout=60).stdout)
    for path in sorted(SOURCE.iterdir()):
        if path.suffix in (".go", ".mod"):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def floor_binary(timeout: float = 600.0) -> Path:
    """The path of the built floor, building it first if this source was never built."""
    go = _go()
    root = venvs.cache_root()
    root.mkdir(parents=True, exist_ok=True)
    binary = root / f"floor-go-{_key(go)}"
    if binary.is_file():
        return binary
    with (root / "floor-go.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if binary.is_file():
            return binary
        print(f"[bench] building the Go floor ({SOURCE.name}) into {binary}", file=sys.stderr,
              flush=True)
        started = time.monotonic()
        partial = binary.with_name(binary.name + ".partial")
        env = {**os.environ, "CGO_ENABLED": "0", "GOTOOLCHAIN": "local", "GOWORK": "off"}
        subprocess.run([go, "build", "-trimpath", "-o", str(partial), "."], cwd=SOURCE,
                       env=env, check=True, timeout=timeout)
        partial.replace(binary)
        print(f"[bench] built the Go floor in {time.monotonic() - started:.1f}s",
              file=sys.stderr, flush=True)
    return binary


if __name__ == "__main__":
    # `python -m bench.gobuild`: build (or find) the floor before the tests, with progress.
    print(floor_binary())
