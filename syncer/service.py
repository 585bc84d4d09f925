"""``kserve-vault-sync run``: the daemon.

APScheduler drives cycles: the first at once, then every ``sync.interval``
plus jitter; ``max_instances=1`` and ``coalesce`` mean a slow cycle never
overlaps the next nor piles runs up. The config file is re-read before each
cycle (content hash, so Kubernetes' ConfigMap symlink swap is seen); a bad
new config keeps the old one, logs why and counts a reload failure. SIGTERM
stops new writes, lets the one in flight finish, releases the Lease, exits.

With leader election every write asks the fence: none starts once this
replica is not the leader (the renew deadline passed), and losing leadership
forgets the cached desired state, so a late watch event cannot write back an
old (possibly revoked) value.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import signal
import threading
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import structlog
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from syncer import awsread, events, health, reconcile, repair, settings
from syncer.awsmetrics import AwsKeyCollector
from syncer.cache import WatchCache
from syncer.errors import ConfigError, SyncError
from syncer.kube import USER_AGENT, Kube, load_api_client
from syncer.leader import LeaderElector, default_identity
from syncer.memory import NamespaceMemory
from syncer.metrics import Metrics
from syncer.outcome import DesiredState, ObjectResult
from syncer.reload import ConfigSource
from syncer.repairer import RepairWorker
from syncer.triggers import Triggers
from syncer.vault import VaultReader
from syncer.watch import OwnedWatch

log = structlog.get_logger(__name__)
JOB_ID = "reconcile"
ONLY_JOB_ID = "reconcile-only"  # at most one pending cycle for ?only= triggers


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
                 trigger_token: str | None = None,
                 state_namespace: str = "kserve-vault-sync") -> None:
        self.metrics = metrics or Metrics()
        self.source = ConfigSource(config_path, environ, self.metrics)
        if not self.source.refresh() or self.source.config is None:
            raise ConfigError(config_path, [self.source.last_error or "invalid"])
        config = self.source.config
        for warning in settings.warnings(config):
            log.warning("config_warning", detail=warning)
        self.health = health.Health(interval=config.sync.interval)
        self.health.config_loaded = True
        self._listen = listen
        # Each replica names itself in its requests, so an audit log tells who wrote.
        self.identity = default_identity()
        self.kube = Kube(load_api_client(kubeconfig, pool_size=config.sync.concurrency),
                         instance=config.sync.instance,
                         user_agent=f"{USER_AGENT} ({self.identity})")
        self.vault = self._vault(config)
        self.events = events.Recorder(self.kube, instance=self.identity,
                                      dropped=self.metrics.events_dropped.inc)
        # Keys of Vault's AWS engine: leases kept across cycles and restarts.
        self.keys = awsread.build(self.vault, self.kube, namespace=state_namespace,
                                  instance=config.sync.instance)
        self.metrics.registry.register(AwsKeyCollector(self.keys))
        self.memory = NamespaceMemory(self.kube, namespace=state_namespace,
                                      instance=config.sync.instance)
        self.stop_event = threading.Event()  # set by SIGTERM: no new writes
        self.cycles = 0
        self.last: DesiredState | None = None
        self.state = reconcile.CycleState(config.sync.rollouts_per_minute)
        # Cycles and drift repairs never write at the same time.
        self._write_lock = threading.Lock()
        self.scheduler = BackgroundScheduler(job_defaults={
            "max_instances": 1, "coalesce": True, "misfire_grace_time": None})
        self.elector: LeaderElector | None = None
        if leader_election:
            self.elector = LeaderElector(self.kube, on_change=self._on_leader_change,
                                         identity=self.identity, **leader_election)
        self.metrics.leader.set(0 if self.elector else 1)
        self.triggers = Triggers(
            trigger_token or "", known=lambda: {c.name for c in self._config().credentials},
            leading=self._leading, run_all=self._run_now, run_only=self._schedule_only,
            retry_after=self.elector.retry_period if self.elector else 1.0,
            counted=self.metrics.triggers.inc)
        self._trigger_enabled = trigger_token is not None
        self.repairer = RepairWorker(
            self.kube, desired=lambda: self.last, lock=self._write_lock, fence=self.fence,
            on_repaired=self._repaired, on_failure=self.metrics.repair_failures.inc,
            on_restart=self.metrics.repair_restarts.inc, resync=self._run_now)
        self.cache = WatchCache() if watch and not config.sync.namespace_scoped else None
        self.watch = OwnedWatch(self.kube, self.repairer.submit, cache=self.cache,
                                on_restart=lambda kind, why:
                                self.metrics.watch_restarts.labels(kind=kind, reason=why).inc(),
                                instance=config.sync.instance,
                                ) if watch and not config.sync.namespace_scoped else None

    def _config(self) -> settings.Config:
        assert self.source.config is not None  # a Daemon never exists without one
        return self.source.config

    def _vault(self, config: settings.Config) -> VaultReader:
        return VaultReader(config.vault, observe=self.metrics.vault_request)

    def _leading(self) -> bool:
        return self.elector is None or self.elector.is_leader

    def fence(self) -> str | None:
        """Asked before every write: why none may start now, or None."""
        if self.stop_event.is_set():
            return "shutting down"
        if not self._leading():
            return "not the leader any more"
        return None

    def _on_leader_change(self, leading: bool) -> None:
        self.metrics.leader.set(1 if leading else 0)
        if not leading:
            # What we cached is the old leader's view: a late watch event must not
            # write it back, and the new leader owns rollouts and conflicts now.
            self.last = None
            self.state = reconcile.CycleState(self._config().sync.rollouts_per_minute)
            self.keys.forget()  # the new leader may re-issue: read the lease store again
            self.repairer.drain()
        elif self.scheduler.running:
            self._run_now()  # a new leader reconciles at once, not at the next tick

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
        config = self._config()
        if not self._leading():
            self.health.cycle_done()  # a healthy standby is ready too
            return
        if only is None:
            # Repairs cannot run while we hold the write lock, so the old desired state
            # is not needed during a full cycle: dropping it now keeps one copy, not two,
            # at the cycle's peak (~22 MiB at 10,000 targets).
            self.last = None
        started = time.monotonic()
        try:
            vault = awsread.reader(self.keys, config, self.vault)
            summary = reconcile.run(config, vault, self.kube, only=only, fence=self.fence,
                                    state=self.state, memory=self.memory, cache=self.cache)
            self.keys.settle(summary, self.state.rollouts.pending)
        except SyncError as exc:
            self.metrics.observe_error(time.monotonic() - started)
            log.error("cycle_failed", error=str(exc))
            return
        finally:
            self.metrics.set_token_ttl(self.vault.token_ttl())
        self.cycles += 1
        if summary.desired is not None and self._leading():
            if only is None or self.last is None:
                self.last = summary.desired  # what drift repairs restore
            else:
                repair.merge_partial(self.last, summary.desired)
        self.metrics.observe_cycle(summary)
        self.events.emit(events.from_summary(summary))
        self.health.cycle_done()
        log.info("cycle", objects=len(summary.objects), writes=summary.writes,
                 failed_entries=len(summary.errors), conflicts=len(summary.conflicts),
                 problems=len(summary.problems), vault_reads=summary.vault_reads,
                 listed=summary.listed,
                 duration=round(summary.duration, 3))
        del summary
        release_memory()

    # -- drift repair and triggers -------------------------------------------

    def _repaired(self, results: list[ObjectResult]) -> None:
        self.metrics.observe_repairs(results)
        self.events.emit(events.from_repairs(results))
        for result in results:
            log.info("drift_repaired", kind=result.kind, namespace=result.namespace,
                     name=result.name, outcome=result.outcome, reason=result.reason)

    def _run_now(self) -> None:
        if self.scheduler.running:
            self.scheduler.modify_job(JOB_ID, next_run_time=datetime.now().astimezone())

    def _schedule_only(self) -> None:
        self.scheduler.add_job(self._only_cycle, id=ONLY_JOB_ID, replace_existing=True,
                               next_run_time=datetime.now().astimezone())

    def _only_cycle(self) -> None:
        names = self.triggers.take_only()
        if names:
            self.cycle(sorted(names))

    def _apply_new_config(self, old: settings.Config, new: settings.Config) -> None:
        if new.vault != old.vault:
            self.vault = self._vault(new)
            self.keys.engine = self.vault.aws
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
                                  trigger=self.triggers.http if self._trigger_enabled
                                  else None)
            log.info("listening", host=self._listen[0] or "*", port=server.server_port,
                     paths=["/metrics", "/healthz", "/readyz"])
        self.health.liveness["scheduler"] = lambda: self.scheduler.running
        if self.elector:
            self.elector.start()
        self.scheduler.add_job(self.cycle, self._trigger(self._config()), id=JOB_ID,
                               next_run_time=datetime.now().astimezone())
        self.scheduler.start()
        repairs_ok = True
        if self.watch:
            self.watch.start()
            self.repairer.start()
            self.health.liveness["repair worker"] = lambda: repairs_ok
        while not self.stop_event.wait(0.5):
            if self.watch:
                repairs_ok = self.repairer.supervise()
            if max_cycles and self.cycles >= max_cycles:
                break
        log.info("stopping", cycles=self.cycles)
        self.stop_event.set()
        if self.watch:
            self.watch.stop()
            self.repairer.stop()
        self.scheduler.shutdown(wait=True)  # the cycle in flight finishes its current write
        if self.elector:
            self.elector.stop(release=True)
        if server:
            server.shutdown()
        log.info("stopped", cycles=self.cycles)
        return 0
