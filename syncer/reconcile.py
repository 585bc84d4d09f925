"""One reconcile cycle: read Vault once per path, render, diff, write what differs.

Order matters for KServe: Secrets are written before the ServiceAccounts that
list them, and a ServiceAccount only ever lists a Secret that exists and is
ours - the pod webhook rejects pods whose ServiceAccount names a missing one.
A credential whose Vault read or value check failed is *held*: its objects
and keys are left exactly as they are while every other entry syncs.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import structlog

from syncer import diff, render, settings
from syncer.errors import KubeError, VaultError
from syncer.model import (
    DesiredSecret,
    ObservedSecret,
    ObservedServiceAccount,
    Ref,
    VaultData,
    VaultFailure,
)
from syncer.outcome import DesiredState, ObjectResult, Summary
from syncer.ports import KubePort, VaultPort
from syncer.rollout import Rollouts
from syncer.writer import Writer, kind_of, stamp

log = structlog.get_logger(__name__)
VAULT_READERS = 8  # concurrent Vault reads per cycle


def _list_per_namespace(kube: KubePort, scope: set[str], rendered: render.Rendered,
                        summary: Summary) -> tuple[dict[Ref, ObservedSecret],
                                                   dict[Ref, ObservedServiceAccount]]:
    """Namespace-scoped RBAC: list only where targets are. A namespace we may not
    read (a missing RoleBinding, say) fails its own objects; the others sync."""
    secrets: dict[Ref, ObservedSecret] = {}
    accounts: dict[Ref, ObservedServiceAccount] = {}
    for ns in sorted(scope):
        try:
            secrets.update(kube.managed_secrets([ns]))
            accounts.update(kube.managed_service_accounts([ns]))
        except KubeError as exc:
            if exc.transient:
                raise  # the API server itself is in trouble: fail the cycle
            log.error("namespace_unreadable", namespace=ns, error=str(exc))
            for table in (rendered.secrets, rendered.service_accounts):
                for ref in [r for r in table if r[0] == ns]:
                    obj = table.pop(ref)
                    summary.objects.append(ObjectResult(
                        kind=kind_of(obj), namespace=ns, name=ref[1], outcome="error",
                        reason=str(exc), credentials=tuple(sorted(obj.credentials))))
    return secrets, accounts


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


def run(config: settings.Config, vault: VaultPort, kube: KubePort, *, dry_run: bool = False,
        only: Iterable[str] | None = None, cancel: threading.Event | None = None,
        rollouts: Rollouts | None = None) -> Summary:
    """Run one cycle and return what happened; never raises for one entry's failure.

    Once ``cancel`` is set (SIGTERM) no new write starts; writes in flight finish.
    """
    stop = cancel or threading.Event()
    started = time.monotonic()
    only_set = set(only) if only is not None else None
    summary = Summary(dry_run=dry_run)
    vault_data, summary.vault_reads = read_vault(config, vault, only_set)
    namespaces = kube.namespaces()
    rendered = render.render(config, namespaces=namespaces, vault=vault_data, only=only_set)
    summary.errors.extend(rendered.errors)
    summary.warnings = rendered.warnings
    for warning in rendered.warnings:
        log.warning("selector_matches_nothing", detail=warning)
    for cred in config.credentials:
        got = vault_data.get(render.source_key(config, cred))
        if isinstance(got, VaultData) and got.created_time:
            summary.created[cred.name] = got.created_time
    if config.sync.namespace_scoped:
        observed_secrets, observed_sas = _list_per_namespace(
            kube, render.target_namespaces(config, namespaces), rendered, summary)
    else:
        observed_secrets = kube.managed_secrets()
        observed_sas = kube.managed_service_accounts()
    prune = config.sync.prune and only_set is None and not summary.errors
    now = stamp()
    writer = Writer(kube, config.sync.concurrency, stop)

    # Phase 1: Secrets.
    secret_results = writer.apply_all(
        [(d, observed_secrets.get(d.ref)) for d in rendered.secrets.values()],
        lambda d, o: diff.diff_secret(d, o, now=now, prune=prune),
        lambda d: kube.get_secret(d.namespace, d.name))
    summary.objects.extend(secret_results)
    available = _available_secrets(rendered.secrets, observed_secrets, secret_results)
    summary.desired = DesiredState(rendered, available)
    # Per namespace once: a set comprehension per ServiceAccount was O(N^2) at 10,000.
    by_namespace: dict[str, set[str]] = defaultdict(set)
    for ns, name in available:
        by_namespace[ns].add(name)

    # Phase 2: ServiceAccounts list only Secrets that exist and are ours.
    summary.objects.extend(writer.apply_all(
        [(d, observed_sas.get(d.ref)) for d in rendered.service_accounts.values()],
        lambda d, o: diff.diff_service_account(
            d, o, available=by_namespace[d.namespace]),
        lambda d: kube.get_service_account(d.namespace, d.name)))

    # Phase 3: restart consumers of rotated Secrets (targets with rollout: true).
    rollouts = rollouts or Rollouts(config.sync.rollouts_per_minute)
    rollouts.record([d for r in secret_results if r.outcome == "updated" and r.content_changed
                     and (d := rendered.secrets.get((r.namespace, r.name))) and d.rollout],
                    rendered, config.kserve.storage_spec_secret_name)
    if rollouts.pending and not stop.is_set():
        summary.objects.extend(rollouts.roll(kube, now))

    # Phase 4: prune what we own and no entry wants (off by default).
    if prune and not stop.is_set():
        summary.objects.extend(writer.run(_prune_actions(rendered, observed_secrets,
                                                         observed_sas)))

    summary.duration = time.monotonic() - started
    for error in summary.errors:
        log.error("entry_failed", credential=error.credential, error=error.reason)
    return summary


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


def _prune_actions(rendered: render.Rendered, secrets: dict[Ref, ObservedSecret],
                   sas: dict[Ref, ObservedServiceAccount]) -> list[diff.Action]:
    actions: list[diff.Action] = []
    for ref, obs in sorted(secrets.items()):
        if ref not in rendered.secrets:
            action = diff.prune_secret(obs)
            if action:
                actions.append(action)
    for ref, sa in sorted(sas.items()):
        want = rendered.service_accounts.get(ref)
        keep = (want.secrets | want.held_secrets) if want else set()
        sa_action = diff.prune_service_account(sa, keep)
        if sa_action:
            actions.append(sa_action)
    return actions
