"""Shared parts of the Vault benchmark (bench/vault_rotation.py): a syncer daemon
with its metrics port, the lease count Vault reports, and percentiles.

Every daemon is started here and stopped by its own pid (SIGTERM, or SIGKILL
where the benchmark means it); nothing is signalled by name.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path
from typing import Any

import hvac

from bench.procs import Background, scrubbed_env
from devenv import servers

BIN = Path(sys.executable).parent


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Syncer:
    """`kserve-vault-sync run` on one config file, with /metrics on a free port."""

    def __init__(self, env: servers.Env, config: Path, log: Path, *extra: str) -> None:
        self.port = servers.free_port()
        self.argv = [str(BIN / "kserve-vault-sync"), "run", "-c", str(config), "--kubeconfig",
                     env.kubeconfig, "--listen", f"127.0.0.1:{self.port}", *extra]
        self.log = log
        self.starts = 0
        self.proc = self._start()

    def _start(self) -> Background:
        self.starts += 1
        return Background(self.argv, env=scrubbed_env(),
                          log=self.log.with_suffix(f".{self.starts}.log"))

    def kill_and_restart(self) -> None:
        """SIGKILL (no shutdown code runs), then a new process on the same config."""
        self.proc.proc.kill()
        self.proc.proc.wait(timeout=30)
        self.proc.stop()
        self.proc = self._start()

    def metric(self, name: str, labels: str = "") -> float:
        """One sample's value from /metrics, 0 if absent or not listening yet."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics",
                                        timeout=3) as resp:
                text = resp.read().decode()
        except OSError:
            return 0.0
        key = name + ("{" + labels + "}" if labels else "")
        for line in text.splitlines():
            if line.startswith(key + " "):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def stop(self) -> None:
        self.proc.stop()

    def events(self, name: str) -> int:
        """How many times any of its processes logged ``name``."""
        needle = f'"event": "{name}"'
        return sum(path.read_text(errors="replace").count(needle)
                   for path in self.log.parent.glob(f"{self.log.name}.*.log"))


def write_config(path: Path, server: Any, credentials: list[dict[str, Any]], *,
                 interval: str, instance: str, auth: dict[str, Any] | None = None) -> Path:
    vault: dict[str, Any] = {"address": server.addr,
                             "auth": auth or {"method": "token", "token": server.token}}
    if auth and auth.get("method") == "cert":
        vault.update(address=server.tls_addr, caCert=server.ca_cert)
    path.write_text(json.dumps({"vault": vault, "sync": {"interval": interval,
                                                         "instance": instance},
                                "credentials": credentials}))
    return path


def lease_ids(client: hvac.Client, prefix: str) -> list[str]:
    """Lease IDs under ``prefix`` as root sees them (404 when there is none)."""
    try:
        found = client.adapter.request("LIST", f"/v1/sys/leases/lookup/{prefix}/")
    except hvac.exceptions.InvalidPath:
        return []
    return sorted(found["data"]["keys"])
