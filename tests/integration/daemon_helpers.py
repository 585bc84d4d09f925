"""Run `kserve-vault-sync run` as a real subprocess and read what it exposes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devenv import servers

BIN = Path(sys.executable).parent


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:  # noqa: S310 - loopback
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def http_post(url: str, token: str) -> tuple[int, str, dict[str, str]]:
    request = urllib.request.Request(url, method="POST",  # noqa: S310 - loopback
                                     headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=3) as resp:  # noqa: S310
            return resp.status, resp.read().decode(), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(), dict(err.headers)


def wait_for(check: Callable[[], Any], timeout: float = 30, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def metric(text: str, name: str, labels: str = "") -> float | None:
    for line in text.splitlines():
        if line.startswith(name + (("{" + labels) if labels else "")) and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            if labels or key == name:
                return float(value)
    return None


def series(text: str, name: str, labels: str = "") -> float:
    """``metric`` for a series the scrape must have (to compare it with <, >=)."""
    value = metric(text, name, labels)
    assert value is not None, f"no {name}{{{labels}}} in the scrape"
    return value


class Daemon:
    """A `kserve-vault-sync run` subprocess; stopped by its own pid."""

    def __init__(self, config: Path, devenv: servers.Env, log: Path, *extra: str,
                 host: str = "127.0.0.1", env: dict[str, str] | None = None) -> None:
        """``host`` "" listens on every address (dual-stack); the URL uses 127.0.0.1."""
        self.port = servers.free_port()
        environ = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
        environ.update(env or {})
        self.log_path = log
        self.log = log.open("wb")
        listen = f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"
        self.proc = subprocess.Popen(
            [str(BIN / "kserve-vault-sync"), "run", "-c", str(config), "--kubeconfig",
             devenv.kubeconfig, "--listen", listen, *extra],
            stdout=self.log, stderr=subprocess.STDOUT, env=environ)
        self.url = f"http://127.0.0.1:{self.port}"

    def scrape(self) -> str:
        try:
            return http_get(self.url + "/metrics")[1]
        except OSError:  # not listening yet
            return ""

    def ready(self) -> bool:
        try:
            return http_get(self.url + "/readyz")[0] == 200
        except OSError:
            return False

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=10)
            self.log.close()
            # The daemon's log is part of this test's output: scanned by the leak guard.
            sys.stderr.write(self.log_path.read_text(errors="replace")[-20000:])
