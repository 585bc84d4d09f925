"""What every benchmark step shares: the options, the running servers and
identities, progress logging, and reading the audit logs and CPU meters."""

from __future__ import annotations

import itertools
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from kubernetes import client as k8s

from bench import cpu, openbao, vaultstats
from bench import k8s as bk
from bench.audit import BaoAudit, KubeAudit
from devenv import servers

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parent.parent
# The Go floor's concurrencies: the best of them is reported as the floor.
FLOOR_CONCURRENCY = (8, 32, 64, 128)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _token(label: str) -> str:
    return secrets.token_urlsafe(24)


@dataclass
class Options:
    sizes: list[int]
    concurrency: int = 8  # the syncer's sync.concurrency, and the Python-client floor's
    script_sample: int = 100
    daemon_seconds: float = 90.0
    daemon_interval: float = 5.0
    token_ttl: int = 20
    token_max_ttl: int = 60
    min_daemon_cycles: int = 3
    floor_concurrency: tuple[int, ...] = FLOOR_CONCURRENCY
    # Optional comparisons: the Go floor over HTTP/1.1, Python httpx over HTTP/2 and bare
    # urllib3 over HTTP/1.1 (bench/pyfloor.py), at these concurrencies.
    go_http1: tuple[int, ...] = ()
    python_h2: tuple[int, ...] = ()
    python_urllib3: tuple[int, ...] = ()
    # Sizes whose start-up and initial sync are profiled (importtime, cProfile; py-spy too).
    profile_sizes: tuple[int, ...] = ()
    py_spy: bool = False
    # Floors and the initial sync run this many times, interleaved; the best of each counts.
    repeat: int = 1
    # Path counts P for the KV v2 metadata-vs-data read timing (bench/kvmeta.py).
    kv_metadata: tuple[int, ...] = (100, 1000)
    # Where each value put into Vault comes from (tests pass their leak-guarded factory).
    values: Callable[[str], str] = field(default=_token)


@dataclass
class Context:
    env: servers.Env
    bao: openbao.Bao
    creds: openbao.Credentials
    identities: dict[str, bk.Identity]
    core: k8s.CoreV1Api
    folder: Path
    opts: Options
    run_id: str
    kube_audit: KubeAudit
    bao_audit: BaoAudit
    kubectl: str

    def kubeconfig(self, actor: str) -> str:
        return str(self.identities[actor].kubeconfig)

    def mark_audits(self) -> None:
        self.kube_audit.mark()
        self.bao_audit.mark()

    def kube_summary(self, actor: str) -> dict[str, Any]:
        return KubeAudit.summary(self.kube_audit.requests(bk.username(actor)))

    def kube_events(self, actor: str) -> list[dict[str, Any]]:
        return self.kube_audit.requests(bk.username(actor))

    def bao_records(self) -> list[dict[str, Any]]:
        """Our Vault requests since the mark, paired with their responses."""
        return vaultstats.pairs(self.bao_audit.exchanges(openbao.POLICY, openbao.LOGIN_PATHS))

    def bao_summary(self, seconds: float | None = None) -> dict[str, Any]:
        """Counts by path, plus (``bench/vaultstats.py``) classes, the rate over
        ``seconds`` and the server-side latency from the request/response pairs."""
        entries = self.bao_audit.requests(openbao.POLICY, openbao.LOGIN_PATHS)
        return {**BaoAudit.summary(entries, openbao.LOGIN_PATHS),
                **vaultstats.summary(self.bao_records(), seconds)}

    def login_gaps(self) -> list[float]:
        """Seconds between consecutive logins, from OpenBao's audit timestamps."""
        times = sorted(
            datetime.fromisoformat(e["time"].replace("Z", "+00:00")).timestamp()
            for e in self.bao_audit.requests(openbao.POLICY, openbao.LOGIN_PATHS)
            if (e.get("request") or {}).get("path") in openbao.LOGIN_PATHS)
        return [b - a for a, b in itertools.pairwise(times)]

    def cpu_meter(self) -> cpu.Meter:
        """A meter over the API server, etcd and the benchmark's OpenBao, started."""
        pids: dict[str, int] = {name: int(str(self.env.processes[name]["pid"]))
                for name in ("kube-apiserver", "etcd") if name in self.env.processes}
        pids["openbao"] = self.bao.server.pid
        return cpu.Meter(pids).start()
