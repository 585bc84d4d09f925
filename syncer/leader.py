"""Leader election on a ``coordination.k8s.io/v1`` Lease, the way client-go does it.

Only the replica holding the Lease writes, so two replicas are safe: every write
batch checks :attr:`LeaderElector.is_leader`, which turns false the moment the
renew deadline passes without a successful renewal - well before a standby
may take over (``lease_duration`` of silence on its own clock). A
holder renews every ``retry_period``; a standby takes over once it has seen
the same renewTime unchanged for ``lease_duration`` (measured on its own
monotonic clock, so clock skew between nodes does not matter). Optimistic
concurrency (resourceVersion) makes two standbys racing for an expired
Lease safe: one update wins, the other gets 409 and stays standby. On a
clean shutdown the holder releases the Lease so a standby takes over at once.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog

from syncer.errors import KubeError

log = structlog.get_logger(__name__)


class LeaseAPI(Protocol):
    def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None: ...
    def create_lease(self, namespace: str, body: dict[str, Any]) -> None: ...
    def replace_lease(self, namespace: str, name: str, body: dict[str, Any]) -> None: ...


def _micro_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def default_identity() -> str:
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}_{os.getpid()}"


class LeaderElector:
    def __init__(self, api: LeaseAPI, *, namespace: str, name: str = "kserve-vault-sync",
                 identity: str | None = None, lease_duration: float = 15.0,
                 renew_deadline: float = 10.0, retry_period: float = 2.0,
                 on_change: Callable[[bool], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._api = api
        self.namespace = namespace
        self.name = name
        self.identity = identity or default_identity()
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self._on_change = on_change or (lambda leading: None)
        self._clock = clock
        self._observed: tuple[str, str] | None = None  # (holder, renewTime) last seen
        self._observed_at = 0.0
        self._renewed_at: float | None = None
        self._leading = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def is_leader(self) -> bool:
        """True while our last successful renewal is within the renew deadline."""
        return (self._leading and self._renewed_at is not None
                and self._clock() - self._renewed_at < self.renew_deadline)

    def _set_leading(self, leading: bool) -> None:
        if leading != self._leading:
            self._leading = leading
            log.info("leader_change", leading=leading, identity=self.identity, lease=self.name)
            self._on_change(leading)

    def _body(self, transitions: int, acquire_time: str, resource_version: str | None,
              holder: str | None = None, duration: float | None = None) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": self.name}
        if resource_version:
            meta["resourceVersion"] = resource_version
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta,
                "spec": {"holderIdentity": self.identity if holder is None else holder,
                         "leaseDurationSeconds": int(duration or self.lease_duration),
                         "acquireTime": acquire_time, "renewTime": _micro_now(),
                         "leaseTransitions": transitions}}

    def try_acquire_or_renew(self) -> bool:
        """One round of the election; returns whether we lead afterwards.

        Two clocks readings, as client-go does: our own renewal counts from before
        the request (the lease may be older than we think, never younger), while
        another holder's record counts as seen only once the read returned (a slow or
        retried read must not make its renewal look older than it is)."""
        now = self._clock()
        try:
            lease = self._api.get_lease(self.namespace, self.name)
        except KubeError as exc:
            log.warning("lease_read_failed", error=str(exc))
            return self.is_leader
        seen = self._clock()
        if lease is None:
            try:
                self._api.create_lease(self.namespace, self._body(0, _micro_now(), None))
            except KubeError as create_exc:
                log.info("lease_create_lost", error=str(create_exc))
                return False
            self._renewed_at = now
            return True
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        record = (holder, spec.get("renewTime") or "")
        if record != self._observed:
            self._observed, self._observed_at = record, seen
        duration = float(spec.get("leaseDurationSeconds") or self.lease_duration)
        expired = not holder or seen - self._observed_at > duration
        if holder != self.identity and not expired:
            return False
        transitions = int(spec.get("leaseTransitions") or 0) + (holder != self.identity)
        acquire = spec.get("acquireTime") if holder == self.identity else _micro_now()
        body = self._body(transitions, acquire or _micro_now(),
                          (lease.get("metadata") or {}).get("resourceVersion"))
        try:
            self._api.replace_lease(self.namespace, self.name, body)
        except KubeError as exc:
            log.info("lease_update_lost", error=str(exc))
            return False
        self._renewed_at = now
        return True

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._set_leading(self.try_acquire_or_renew())
            self._stop.wait(self.retry_period)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="leader-election", daemon=True)
        self._thread.start()

    def stop(self, *, release: bool = True) -> None:
        """Stop electing; if we lead, hand the Lease back so a standby takes over now."""
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=self.retry_period + 5)
        if release and self._leading:
            try:
                lease = self._api.get_lease(self.namespace, self.name) or {}
                spec = lease.get("spec") or {}
                if spec.get("holderIdentity") == self.identity:
                    body = self._body(int(spec.get("leaseTransitions") or 0),
                                      spec.get("acquireTime") or _micro_now(),
                                      (lease.get("metadata") or {}).get("resourceVersion"),
                                      holder="", duration=1)
                    self._api.replace_lease(self.namespace, self.name, body)
                    log.info("lease_released", identity=self.identity)
            except KubeError as exc:
                log.warning("lease_release_failed", error=str(exc))
        self._set_leading(False)
