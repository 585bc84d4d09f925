"""Cached virtualenvs for the benchmark's optional tools, outside the repo.

matplotlib (the plot), httpx with HTTP/2 (the Python h2 prototype) and py-spy
(the sampling profile) are not project dependencies: each is installed once
into ``~/.cache/kserve-vault-sync/bench/<name>-venv`` (under a lock, pinned)
and reused by later runs.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

PLOT = ("plot", ("matplotlib==3.11.2",))
H2 = ("h2", ("httpx[http2]==0.28.1",))
PROFILE = ("profile", ("py-spy==0.4.3",))
PLOT_SCRIPT = Path(__file__).with_name("plot.py")


def cache_root() -> Path:
    """~/.cache/kserve-vault-sync/bench (or under $XDG_CACHE_HOME)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kserve-vault-sync" / "bench"


def ensure(spec: tuple[str, tuple[str, ...]], timeout: float = 900.0) -> Path:
    """The bin/ folder of the named venv, created and filled once."""
    name, requirements = spec
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    venv = root / f"{name}-venv"
    marker, want = venv / ".kvs-installed", "\n".join(requirements) + "\n"

    def ready() -> bool:
        return (venv / "bin" / "python").exists() and marker.is_file() \
            and marker.read_text() == want

    if ready():
        return venv / "bin"
    with (root / f"{name}-venv.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not ready():
            print(f"[bench] installing {' '.join(requirements)} into {venv} (once)",
                  file=sys.stderr, flush=True)
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True,
                           timeout=timeout)
            subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                            *requirements], check=True, timeout=timeout)
            marker.write_text(want)
    return venv / "bin"


def plot(results_json: Path, png: Path) -> None:
    subprocess.run([str(ensure(PLOT) / "python"), str(PLOT_SCRIPT), str(results_json),
                    str(png)], check=True, timeout=300)
