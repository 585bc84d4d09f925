"""Prometheus metrics (prefix ``kserve_vault_sync_``); docs/operations.md lists them.

One registry per process (not the global default) so tests can build a
fresh one and scrape exactly what a cycle produced. Labels carry names and
statuses only - never a value.
"""

from __future__ import annotations

import importlib.metadata
import time
from datetime import datetime

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
)

from syncer.outcome import ObjectResult, Summary

PREFIX = "kserve_vault_sync"


def version() -> str:
    """The installed package's version ("unknown" when run from a bare checkout)."""
    try:
        return importlib.metadata.version("kserve-vault-sync")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"

_WRITE_ACTIONS = {"created": "create", "updated": "update", "deleted": "delete"}


class Metrics:
    """Every metric the daemon exports, and the small API that feeds them."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        # process_* (CPU, RSS, open files) and python_info, as client libraries export
        # by default, but on our own registry.
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        self.build_info = Info(f"{PREFIX}_build", "The running version.", registry=r)
        self.build_info.info({"version": version()})
        self.sync_runs = Counter(f"{PREFIX}_sync_runs", "Reconcile cycles by result "
                                 "(success, partial: some entries failed, error).",
                                 ["result"], registry=r)
        self.sync_duration = Histogram(f"{PREFIX}_sync_duration_seconds",
                                       "Wall time of one reconcile cycle.", registry=r,
                                       buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
        self.last_success = Gauge(f"{PREFIX}_last_success_timestamp_seconds",
                                  "Unix time of the last cycle in which every entry synced.",
                                  registry=r)
        self.last_run = Gauge(f"{PREFIX}_last_run_timestamp_seconds",
                              "Unix time of the last finished cycle, whatever its result.",
                              registry=r)
        self.object_writes = Counter(f"{PREFIX}_object_writes", "Writes to the API server.",
                                     ["kind", "action"], registry=r)
        self.vault_requests = Counter(f"{PREFIX}_vault_requests", "Requests to Vault.",
                                      ["operation", "status"], registry=r)
        self.secret_last_sync = Gauge(f"{PREFIX}_secret_last_sync_timestamp_seconds",
                                      "Unix time a managed Secret was last confirmed in sync.",
                                      # Not "namespace": a ServiceMonitor would rename it
                                      # exported_namespace (it clashes with the target's).
                                      ["secret_namespace", "name"], registry=r)
        self.conflicts = Gauge(f"{PREFIX}_conflicts",
                               "Objects or keys we may not write (not ours, no adopt).",
                               registry=r)
        self.failed_entries = Gauge(f"{PREFIX}_failed_entries",
                                    "Credentials that could not be synced in the last cycle.",
                                    registry=r)
        self.token_ttl = Gauge(f"{PREFIX}_vault_token_ttl_seconds",
                               "Seconds left on the Vault token (-1: never expires).",
                               registry=r)
        self.leader = Gauge(f"{PREFIX}_leader", "1 while this replica holds the lease.",
                            registry=r)
        self.config_reload_failures = Counter(f"{PREFIX}_config_reload_failures",
                                              "New config files rejected (old one kept).",
                                              registry=r)
        self.rotations = Counter(f"{PREFIX}_rotations_applied",
                                 "Objects updated in place with new credential content.",
                                 ["kind"], registry=r)
        self.rotation_latency = Histogram(
            f"{PREFIX}_rotation_latency_seconds",
            "Seconds from a KV v2 version's created_time to its value applied in the cluster.",
            registry=r, buckets=(1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600))
        self.drift_repairs = Counter(f"{PREFIX}_drift_repairs",
                                     "Objects changed by someone else and put back (watch).",
                                     ["kind"], registry=r)
        self.watch_restarts = Counter(f"{PREFIX}_watch_restarts",
                                      "Watches restarted (gone: history compacted; error).",
                                      ["kind", "reason"], registry=r)
        self.rollouts = Counter(f"{PREFIX}_rollouts_triggered",
                                "Consumers restarted after a rotation (opt-in per target).",
                                ["kind"], registry=r)
        self.triggers = Counter(f"{PREFIX}_triggers", "Cycles requested through POST /trigger.",
                                registry=r)
        self.repair_failures = Counter(f"{PREFIX}_repair_failures",
                                       "Drift repairs that failed unexpectedly (the worker "
                                       "carries on with the next event).", registry=r)
        self.repair_restarts = Counter(f"{PREFIX}_repair_worker_restarts",
                                       "Times the drift-repair worker died and was restarted.",
                                       registry=r)
        self.prune_refused = Gauge(f"{PREFIX}_prune_refused",
                                   "1 while prune is refused: it would remove more than "
                                   "sync.pruneMaxFraction of what we own.", registry=r)
        self.kserve_drift = Gauge(f"{PREFIX}_kserve_config_drift",
                                  "Settings of ours that KServe's inferenceservice-config "
                                  "contradicts (KServe uses its own).", registry=r)
        self.events_dropped = Counter(f"{PREFIX}_events_dropped",
                                      "Kubernetes Events not sent (rate limit, aggregation "
                                      "budget, or no RBAC for events).", registry=r)
        self.cycle_problems = Gauge(f"{PREFIX}_cycle_problems",
                                    "Failures of the last cycle not tied to one entry (a "
                                    "refused prune, a dropped namespace we cannot read).",
                                    registry=r)

    def vault_request(self, operation: str, status: str) -> None:
        self.vault_requests.labels(operation=operation, status=status).inc()

    def set_token_ttl(self, ttl: float | None) -> None:
        if ttl is not None:
            self.token_ttl.set(-1 if ttl == float("inf") else ttl)

    def observe_cycle(self, summary: Summary) -> None:
        now = time.time()
        result = "partial" if summary.failed else "success"
        self.sync_runs.labels(result=result).inc()
        self.sync_duration.observe(summary.duration)
        self.last_run.set(now)
        if not summary.failed:
            self.last_success.set(now)
        for obj in summary.objects:
            action = _WRITE_ACTIONS.get(obj.outcome)
            if action:
                self.object_writes.labels(kind=obj.kind, action=action).inc()
            if obj.outcome == "rolled":
                self.rollouts.labels(kind=obj.kind).inc()
            if obj.outcome == "updated" and obj.content_changed:
                self.rotations.labels(kind=obj.kind).inc()
                for created in {summary.created[c] for c in obj.credentials
                                if c in summary.created}:
                    age = _age(created, now)
                    if age is not None:
                        self.rotation_latency.observe(age)
            if obj.kind == "Secret" and obj.outcome in ("created", "updated", "unchanged"):
                self.secret_last_sync.labels(secret_namespace=obj.namespace,
                                             name=obj.name).set(now)
        self.conflicts.set(len(summary.conflicts))
        self.failed_entries.set(len({e.credential for e in summary.errors}))
        self.prune_refused.set(1 if summary.prune_refused else 0)
        self.cycle_problems.set(len(summary.problems))
        self.kserve_drift.set(len(summary.kserve_drift))

    def observe_repairs(self, results: list[ObjectResult]) -> None:
        for obj in results:
            action = _WRITE_ACTIONS.get(obj.outcome)
            if action:
                self.object_writes.labels(kind=obj.kind, action=action).inc()
                self.drift_repairs.labels(kind=obj.kind).inc()

    def observe_error(self, duration: float) -> None:
        """A cycle that could not run at all (API server down, say)."""
        self.sync_runs.labels(result="error").inc()
        self.sync_duration.observe(duration)
        self.last_run.set(time.time())


def _age(created: str, now: float) -> float | None:
    """Seconds since a Vault RFC 3339 timestamp (nanoseconds trimmed to micro)."""
    try:
        head, _, frac = created.rstrip("Z").partition(".")
        stamp = datetime.fromisoformat(f"{head}.{(frac or '0')[:6]}+00:00")
    except ValueError:
        return None
    return max(0.0, now - stamp.timestamp())
