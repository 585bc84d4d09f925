"""``kserve-vault-sync run``: the daemon.

APScheduler drives cycles: the first at once, then every ``sync.interval``
plus jitter; ``max_instances=1`` and ``coalesce`` mean a slow cycle never
overlaps the next nor piles runs up. The config file is re-read before each
cycle (content hash, so Kubernetes' ConfigMap symlink swap is seen); a bad
new config keeps the old one, logs why and counts a reload failure. SIGTERM
stops new writes, lets the one in flight finish, releases the Lease, exits.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import hmac
import queue
import signal
import threading
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import structlog
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from syncer import health, reconcile, repair, settings
from syncer.errors import ConfigError, SyncError
from syncer.kube import Kube, load_api_client
from syncer.leader import LeaderElector
from syncer.metrics import Metrics
from syncer.outcome import DesiredState
from syncer.reload import ConfigSource
from syncer.rollout import Rollouts
from syncer.vault import VaultReader
from syncer.watch import OwnedWatch

log = structlog.get_logger(__name__)
JOB_ID = "reconcile"


def release_memory() -> None:
    """Give the heap a cycle freed back to the OS (glibc malloc_trim), so steady RSS
    follows what the daemon keeps, not the peak of its last cycle. No-op elsewhere."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)


class Daemon:
    def __init__(self, config_path: str, *, environ: Mapping[str, str],
                 kubeconfig: str | None = None, listen: tuple[str, int] | None = None,
                 leader_election: dict[str, Any] | None = None,
                 metrics: Metrics | None = None, watch: bool = True,
                 trigger_token: str | None = None) -> None:
        self.metrics = metrics or Metrics()
        self.source = ConfigSource(config_path, environ, self.metrics)
        if not self.source.refresh() or self.source.config is None:
            raise ConfigError(config_path, [self.source.last_error or "invalid"])
        config = self.source.config
        self.health = health.Health(interval=config.sync.interval)
        self.health.config_loaded = True
        self._listen = listen
        self.kube = Kube(load_api_client(kubeconfig, pool_size=config.sync.concurrency))
        self.vault = self._vault(config)
        self.stop_event = threading.Event()  # set by SIGTERM: no new writes
        self.cycles = 0
        self.last: DesiredState | None = None
        # Cycles and drift repairs never write at the same time.
        self._write_lock = threading.Lock()
        self._events: queue.Queue[tuple[str, str, Any]] = queue.Queue(maxsize=10000)
        self.watch = OwnedWatch(self.kube, self._on_event, on_restart=lambda kind, why:
                                self.metrics.watch_restarts.labels(kind=kind, reason=why).inc()
                                ) if watch and not config.sync.namespace_scoped else None
        self.trigger_token = trigger_token
        self.rollouts = Rollouts(config.sync.rollouts_per_minute)
        self.scheduler = BackgroundScheduler(job_defaults={
            "max_instances": 1, "coalesce": True, "misfire_grace_time": None})
        self.elector: LeaderElector | None = None
        if leader_election:
            self.elector = LeaderElector(self.kube, on_change=self._on_leader_change,
                                         **leader_election)
        self.metrics.leader.set(0 if self.elector else 1)

    def _vault(self, config: settings.Config) -> VaultReader:
        return VaultReader(config.vault, observe=self.metrics.vault_request)

    def _on_leader_change(self, leading: bool) -> None:
        self.metrics.leader.set(1 if leading else 0)
        if leading and self.scheduler.running:
            # A new leader reconciles at once instead of waiting for the next tick.
            self.scheduler.modify_job(JOB_ID, next_run_time=datetime.now().astimezone())

    def _trigger(self, config: settings.Config) -> IntervalTrigger:
        return IntervalTrigger(seconds=config.sync.interval,
                               jitter=config.sync.interval * config.sync.jitter)

    def cycle(self, only: list[str] | None = None) -> None:
        """One scheduled cycle; never raises (a failed cycle is logged and counted)."""
        if self.stop_event.is_set():
            return
        with self._write_lock:
            self._cycle(only)

    def _cycle(self, only: list[str] | None) -> None:
        old = self.source.config
        if self.source.refresh() and self.source.config is not None and old is not None:
            self._apply_new_config(old, self.source.config)
        config = self.source.config
        assert config is not None
        if self.elector is not None and not self.elector.is_leader:
            self.health.cycle_done()  # a healthy standby is ready too
            return
        if only is None:
            # Repairs cannot run while we hold the write lock, so the old desired state
            # is not needed during a full cycle: dropping it now keeps one copy, not two,
            # at the cycle's peak (~22 MiB at 10,000 targets).
            self.last = None
        started = time.monotonic()
        try:
            summary = reconcile.run(config, self.vault, self.kube, cancel=self.stop_event,
                                    only=only, rollouts=self.rollouts)
        except SyncError as exc:
            self.metrics.observe_error(time.monotonic() - started)
            log.error("cycle_failed", error=str(exc))
            return
        finally:
            self.metrics.set_token_ttl(self.vault.token_ttl())
        self.cycles += 1
        if summary.desired is not None:
            if only is None or self.last is None:
                self.last = summary.desired  # what drift repairs restore
            else:
                repair.merge_partial(self.last, summary.desired)
        self.metrics.observe_cycle(summary)
        self.health.cycle_done()
        log.info("cycle", objects=len(summary.objects), writes=summary.writes,
                 failed_entries=len(summary.errors), conflicts=len(summary.conflicts),
                 vault_reads=summary.vault_reads, duration=round(summary.duration, 3))
        del summary
        release_memory()

    # -- drift repair and triggers -------------------------------------------

    def _on_event(self, kind: str, event_type: str, observed: Any) -> None:
        try:
            self._events.put_nowait((kind, event_type, observed))
        except queue.Full:  # a flood: one full cycle covers whatever was dropped
            self.trigger()

    def _repair_loop(self) -> None:
        while not self.stop_event.is_set():
            try:
                kind, event_type, observed = self._events.get(timeout=0.5)
            except queue.Empty:
                continue
            if event_type == "RESYNC":
                self.trigger()
                continue
            if self.last is None or (self.elector is not None and not self.elector.is_leader):
                continue
            ref = (observed.namespace, observed.name)
            with self._write_lock:
                results = repair.repair(self.kube, self.last, kind, ref,
                                           None if event_type == "DELETED" else observed,
                                           stop=self.stop_event)
            if results:
                self.metrics.observe_repairs(results)
                for result in results:
                    log.info("drift_repaired", kind=result.kind, namespace=result.namespace,
                             name=result.name, outcome=result.outcome, reason=result.reason)

    def _http_trigger(self, token: str, only: list[str]) -> tuple[int, str]:
        assert self.trigger_token is not None
        if not hmac.compare_digest(token.encode(), self.trigger_token.encode()):
            return 401, "unauthorized"
        if only and not _known(self, only):
            return 400, "unknown credential name"
        self.metrics.triggers.inc()
        self.trigger(only or None)
        log.info("triggered", only=only or "all")
        return 202, "cycle scheduled"

    def trigger(self, only: list[str] | None = None) -> None:
        """Run a cycle now (a rotation pipeline calls this right after writing to Vault)."""
        now = datetime.now().astimezone()
        if only:
            self.scheduler.add_job(self.cycle, kwargs={"only": only}, next_run_time=now)
        elif self.scheduler.running:
            self.scheduler.modify_job(JOB_ID, next_run_time=now)

    def _apply_new_config(self, old: settings.Config, new: settings.Config) -> None:
        if new.vault != old.vault:
            self.vault = self._vault(new)
        if (new.sync.interval, new.sync.jitter) != (old.sync.interval, old.sync.jitter):
            self.health.interval = new.sync.interval
            self.scheduler.reschedule_job(JOB_ID, trigger=self._trigger(new))

    def run(self, *, max_cycles: int = 0) -> int:
        """Serve until SIGTERM/SIGINT (or ``max_cycles`` cycles, for demos and tests)."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop_event.set())
        server = None
        if self._listen:
            server = health.serve(self._listen[0], self._listen[1], self.metrics, self.health,
                                  trigger=self._http_trigger if self.trigger_token else None)
            log.info("listening", address=f"http://{self._listen[0]}:{server.server_port}",
                     paths=["/metrics", "/healthz", "/readyz"])
        self.health.scheduler_alive = lambda: self.scheduler.running
        if self.elector:
            self.elector.start()
        assert self.source.config is not None
        self.scheduler.add_job(self.cycle, self._trigger(self.source.config), id=JOB_ID,
                               next_run_time=datetime.now().astimezone())
        self.scheduler.start()
        if self.watch:
            self.watch.start()
            threading.Thread(target=self._repair_loop, name="repair", daemon=True).start()
        while not self.stop_event.wait(0.5):
            if max_cycles and self.cycles >= max_cycles:
                break
        log.info("stopping", cycles=self.cycles)
        self.stop_event.set()
        if self.watch:
            self.watch.stop()
        self.scheduler.shutdown(wait=True)  # the cycle in flight finishes its current write
        if self.elector:
            self.elector.stop(release=True)
        if server:
            server.shutdown()
        log.info("stopped", cycles=self.cycles)
        return 0


def _known(daemon: Daemon, names: list[str]) -> bool:
    config = daemon.source.config
    return config is not None and set(names) <= {c.name for c in config.credentials}
