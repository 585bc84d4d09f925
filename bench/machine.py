"""The machine and the versions a run was measured on, for RESULTS.md."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import openbao
from devenv import binaries, servers

REPO = Path(__file__).resolve().parent.parent


def now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S %Z")


def machine() -> dict[str, Any]:
    cpu = ""
    cores = 0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and not cpu:
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("processor"):
                cores += 1
    except OSError:
        pass
    try:
        free = subprocess.run(["free", "-m"], capture_output=True, text=True, timeout=10,
                              check=False).stdout.strip()
    except OSError:
        free = "(free not available)"
    return {"cpu": cpu, "cores": cores, "free": free, "kernel": platform.release(),
            "python": platform.python_version(), "load_start": os.getloadavg()}


def _first_line(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30,
                              check=False).stdout.strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


def _package(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "?"


def versions(env: servers.Env) -> dict[str, str]:
    bins = binaries.find()
    return {"kubernetes": f"v{env.k8s_version}",
            "openbao": _first_line([openbao.bao_binary(), "version"]),
            "kubernetes_client": _package("kubernetes"), "hvac": _package("hvac"),
            "syncer": _package("kserve-vault-sync"),
            "go": _first_line(["go", "version"]),
            # A run from an exported tree (no .git) names its revision in KVS_BENCH_REVISION.
            "git": os.environ.get("KVS_BENCH_REVISION")
            or _first_line(["git", "-C", str(REPO), "describe", "--always", "--dirty"]),
            "kubectl": _first_line([str(bins.kubectl) if bins else "kubectl", "version",
                                    "--client"])}
