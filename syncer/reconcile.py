"""One reconcile cycle: read Vault once per path, render, diff, write what differs.

Order matters for KServe: Secrets are written before the ServiceAccounts that
list them, and a ServiceAccount only ever lists a Secret that exists and is
ours - the pod webhook rejects pods whose ServiceAccount names a missing one.
A credential whose Vault read or value check failed is *held*: its objects
and keys are left exactly as they are while every other entry syncs.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import structlog

from syncer import diff, kserve, prune, render, scoped, settings
from syncer.cache import FULL_LIST_EVERY, WatchCache
from syncer.errors import KubeError, VaultError
from syncer.memory import NamespaceMemory
from syncer.model import (
    DesiredSecret,
    Namespace,
    ObservedSecret,
    ObservedServiceAccount,
    Ref,
    VaultData,
    VaultFailure,
)
from syncer.outcome import DesiredState, ObjectResult, Summary
from syncer.ports import KubePort, VaultPort
from syncer.rollout import Rollouts
from syncer.writer import Fence, Writer, open_fence, stamp

log = structlog.get_logger(__name__)
VAULT_READERS = 8  # concurrent Vault reads per cycle


def read_vault(config: settings.Config, vault: VaultPort, only: Iterable[str] | None
               ) -> tuple[dict[render.SourceKey, VaultData | VaultFailure], int]:
    """Each distinct path once, a few at a time. A failure becomes that path's VaultFailure."""
    def read(key: render.SourceKey) -> VaultData | VaultFailure:
        mount, path, kv_version, version = key
        try:
            return vault.read(mount, path, kv_version, version)
        except VaultError as exc:
            log.warning("vault_read_failed", path=f"{mount}/{path}", error=str(exc))
            return VaultFailure(str(exc))

    keys = render.distinct_sources(config, only)
    # Bounded by the HTTP connection pool of the Vault client (requests keeps 10).
    workers = max(1, min(config.sync.concurrency, VAULT_READERS, len(keys)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip(keys, pool.map(read, keys), strict=True)), len(keys)


class CycleState:
    """What the daemon carries from one cycle to the next (``once`` starts afresh):
    rollouts still to do, and objects known to be someone else's, so a known
    conflict is re-read each cycle instead of re-attempted with a failing write."""

    def __init__(self, rollouts_per_minute: int) -> None:
        self.rollouts = Rollouts(rollouts_per_minute)
        self.conflicts: set[Ref] = set()
        # When the watch cache may stand in for the lists (syncer/cache.py).
        self.cycles_since_list = 0
        self.wrote = True


def run(config: settings.Config, vault: VaultPort, kube: KubePort, *, dry_run: bool = False,
        only: Iterable[str] | None = None, fence: Fence = open_fence,
        state: CycleState | None = None, memory: NamespaceMemory | None = None,
        prune_confirmed: bool = False, cache: WatchCache | None = None) -> Summary:
    """Run one cycle and return what happened; never raises for one entry's failure.

    ``fence`` is asked before every write: once it says no (SIGTERM, leadership
    lost) no new write starts; writes in flight finish. ``memory`` remembers, in
    namespace-scoped mode, the namespaces we wrote to, so prune still reaches one
    that was dropped from the config.
    """
    started = time.monotonic()
    cycle = _Cycle(config, kube, fence=fence, state=state or CycleState(
        config.sync.rollouts_per_minute), summary=Summary(dry_run=dry_run),
        only=set(only) if only is not None else None, cache=cache)
    cycle.read_and_render(vault)
    cycle.observe(memory)
    pruning = cycle.plan_prune(confirmed=prune_confirmed)
    available = cycle.secrets(prune_keys=pruning is not None)
    cycle.service_accounts(available)
    cycle.rollouts()
    if pruning is not None:
        cycle.prune(pruning)
    cycle.remember(memory)
    summary = cycle.summary
    cycle.state.wrote = summary.writes > 0
    summary.duration = time.monotonic() - started
    for error in summary.errors:
        log.error("entry_failed", credential=error.credential, error=error.reason)
    for problem in summary.problems:
        log.error("cycle_problem", problem=problem)
    return summary


class _Cycle:
    """One cycle's working state, phase by phase (see :func:`run`)."""

    def __init__(self, config: settings.Config, kube: KubePort, *, fence: Fence,
                 state: CycleState, summary: Summary, only: set[str] | None,
                 cache: WatchCache | None = None) -> None:
        self.cache = cache
        self.config = config
        self.kube = kube
        self.fence = fence
        self.state = state
        self.summary = summary
        self.only = only
        self.now = stamp()
        self.writer = Writer(kube, config.sync.concurrency, fence)
        self.rendered = render.Rendered()
        self.namespaces: dict[str, Namespace] = {}
        self.secrets_seen: dict[Ref, ObservedSecret] = {}
        self.accounts_seen: dict[Ref, ObservedServiceAccount] = {}
        self.remembered: set[str] = set()
        self.listed: set[str] = set()

    def cluster_kserve(self) -> None:
        """Fill in what the config leaves to KServe's own inferenceservice-config."""
        if not self.config.kserve.read_cluster_config:
            return
        namespace = self.config.kserve.config_namespace
        try:
            found = self.kube.get_config_map(namespace, kserve.CONFIG_MAP)
        except KubeError as exc:
            self.summary.warnings.append(
                f"cannot read {namespace}/{kserve.CONFIG_MAP} ({exc}); using the configured "
                "and default KServe names")
            return
        if found is None:
            return  # no KServe there (yet): the configured and default names hold
        self.config, drift = kserve.effective(
            self.config, kserve.cluster_settings(found.get("data") or {}))
        self.summary.kserve_drift = drift
        self.summary.warnings.extend(drift)

    def read_and_render(self, vault: VaultPort) -> None:
        """Vault and the cluster are read at the same time: neither needs the other."""
        self.cluster_kserve()
        summary, config = self.summary, self.config
        with ThreadPoolExecutor(max_workers=1) as pool:
            reading = pool.submit(read_vault, config, vault, self.only)
            self.namespaces = self.kube.namespaces()
            if not config.sync.namespace_scoped:  # scoped listing needs the render
                self._list_or_recall()
            vault_data, summary.vault_reads = reading.result()
        self.rendered = render.render(config, namespaces=self.namespaces, vault=vault_data,
                                      only=self.only)
        summary.errors.extend(self.rendered.errors)
        summary.warnings = self.rendered.warnings
        for warning in self.rendered.warnings:
            log.warning("selector_matches_nothing", detail=warning)
        for cred in config.credentials:
            got = vault_data.get(render.source_key(config, cred))
            if isinstance(got, VaultData) and got.created_time:
                summary.created[cred.name] = got.created_time

    def _list_or_recall(self) -> None:
        """Cluster-wide: what the watches know, if they can be trusted, else a list."""
        state = self.state
        known = self.cache.snapshot() if self.cache is not None else None
        if (known is not None and not state.wrote
                and state.cycles_since_list < FULL_LIST_EVERY):
            self.secrets_seen, self.accounts_seen = known
            state.cycles_since_list += 1
            self.summary.listed = False
            return
        self.secrets_seen = self.kube.managed_secrets()
        self.accounts_seen = self.kube.managed_service_accounts()
        state.cycles_since_list = 0

    def observe(self, memory: NamespaceMemory | None) -> None:
        """What we own now: listed per kind with the Vault reads (read_and_render), or
        here per namespace in namespace-scoped mode."""
        if self.config.sync.namespace_scoped:
            targets = render.target_namespaces(self.config, self.namespaces)
            self.remembered = scoped.recall(memory, self.summary,
                                            prune=self.config.sync.prune)
            # Without prune nothing is removed from a dropped namespace: no need to list it.
            dropped = self.remembered - targets if self.config.sync.prune else set()
            self.listed = targets | dropped
            self.secrets_seen, self.accounts_seen = scoped.list_per_namespace(
                self.kube, targets, dropped, self.rendered, self.summary)
        _reread_known_conflicts(self.kube, self.state, self.rendered, self.secrets_seen)

    def plan_prune(self, *, confirmed: bool) -> prune.Plan | None:
        config, summary = self.config, self.summary
        if not config.sync.prune or self.only is not None or summary.errors:
            return None
        plan = prune.plan(self.rendered, self.secrets_seen, self.accounts_seen,
                          configured={c.name for c in config.credentials},
                          max_fraction=config.sync.prune_max_fraction, confirmed=confirmed)
        if plan.refused:
            summary.prune_refused = plan.refused
            summary.problems.append(f"prune refused: {plan.refused}")
            return None
        return plan

    def secrets(self, *, prune_keys: bool) -> dict[str, set[str]]:
        """Phase 1: Secrets. Returns, per namespace, the Secrets a ServiceAccount may list."""
        kube, now = self.kube, self.now
        results = self.writer.apply_all(
            [(d, self.secrets_seen.get(d.ref)) for d in self.rendered.secrets.values()],
            lambda d, o: diff.diff_secret(d, o, now=now, prune=prune_keys),
            lambda d: kube.get_secret(d.namespace, d.name))
        self.summary.objects.extend(results)
        self.state.conflicts = {(r.namespace, r.name) for r in results
                                if r.outcome == "conflict"}
        self.rotated = [d for r in results if r.outcome == "updated" and r.content_changed
                        and (d := self.rendered.secrets.get((r.namespace, r.name)))
                        and d.rollout]
        available = _available_secrets(self.rendered.secrets, self.secrets_seen, results)
        self.summary.desired = DesiredState(self.rendered, available)
        # Per namespace once: a set comprehension per ServiceAccount was O(N^2) at 10,000.
        by_namespace: dict[str, set[str]] = defaultdict(set)
        for ns, name in available:
            by_namespace[ns].add(name)
        return by_namespace

    def service_accounts(self, available: dict[str, set[str]]) -> None:
        """Phase 2: ServiceAccounts list only Secrets that exist and are ours."""
        kube = self.kube
        self.summary.objects.extend(self.writer.apply_all(
            [(d, self.accounts_seen.get(d.ref))
             for d in self.rendered.service_accounts.values()],
            lambda d, o: diff.diff_service_account(d, o, available=available[d.namespace]),
            lambda d: kube.get_service_account(d.namespace, d.name)))

    def rollouts(self) -> None:
        """Phase 3: restart consumers of rotated Secrets (targets with rollout: true)."""
        rollouts = self.state.rollouts
        rollouts.record(self.rotated, self.rendered, self.config.kserve)
        if rollouts.pending:
            self.summary.objects.extend(rollouts.roll(self.kube, self.now, self.fence))

    def prune(self, plan: prune.Plan) -> None:
        """Phase 4: ServiceAccount entries first; a Secret they listed only after a
        grace, and not while one still lists it (KServe's webhook rejects a pod whose
        ServiceAccount names a missing Secret; see syncer/prune.py)."""
        account_results = self.writer.run(plan.accounts)
        self.summary.objects.extend(account_results)
        self.summary.objects.extend(self.writer.run(plan.secrets))
        changed = {(r.namespace, r.name) for r in account_results
                   if r.outcome in ("updated", "deleted")}
        go, stay = prune.unlisted(plan, changed)
        if go and not self.summary.dry_run:
            self._pause(prune.UNLIST_GRACE)
        self.summary.objects.extend(self.writer.run(go))
        self.summary.objects.extend(
            ObjectResult(kind=item.action.kind, namespace=item.action.namespace,
                         name=item.action.name, outcome="deferred", uid=item.action.uid,
                         reason="not removed while ServiceAccount "
                                f"{', '.join(f'{ns}/{n}' for ns, n in sorted(item.by))} "
                                "lists it")
            for item in stay)

    def _pause(self, seconds: float) -> None:
        """Wait, but not past the fence closing (SIGTERM, leadership lost)."""
        deadline = time.monotonic() + seconds
        while self.fence() is None and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.25))

    def remember(self, memory: NamespaceMemory | None) -> None:
        if self.config.sync.namespace_scoped and self.only is None:
            scoped.remember(memory, self.summary, prune=self.config.sync.prune,
                            before=self.remembered,
                            unlisted=self.remembered - self.listed,
                            secrets=self.secrets_seen, accounts=self.accounts_seen)


def _reread_known_conflicts(kube: KubePort, state: CycleState, rendered: render.Rendered,
                            observed: dict[Ref, ObservedSecret]) -> None:
    """A Secret that was someone else's last cycle is read (not re-created): if it is
    still theirs, the diff reports the conflict again without a failing write."""
    for ref in sorted(state.conflicts):
        if ref in rendered.secrets and ref not in observed:
            try:
                found = kube.get_secret(*ref)
            except KubeError as exc:
                log.warning("conflict_reread_failed", namespace=ref[0], name=ref[1],
                            error=str(exc))
                continue
            if found is not None:
                observed[ref] = found


def _available_secrets(desired: dict[Ref, DesiredSecret], observed: dict[Ref, ObservedSecret],
                       results: list[ObjectResult]) -> set[Ref]:
    bad = {(r.namespace, r.name) for r in results if r.outcome in ("conflict", "error")}
    ok = {(r.namespace, r.name) for r in results if r.outcome in ("created", "updated")}
    out = set()
    for ref, d in desired.items():
        if ref in bad and not d.shared:
            continue
        obs = observed.get(ref)
        if ref in ok or (obs is not None and (obs.owned_whole or d.shared)):
            out.add(ref)
    return out
