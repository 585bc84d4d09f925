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

from syncer import diff, prune, render, settings
from syncer.errors import KubeError, VaultError
from syncer.memory import NamespaceMemory
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
from syncer.writer import Fence, Writer, kind_of, open_fence, stamp

log = structlog.get_logger(__name__)
VAULT_READERS = 8  # concurrent Vault reads per cycle


def _list_per_namespace(kube: KubePort, targets: set[str], dropped: set[str],
                        rendered: render.Rendered, summary: Summary
                        ) -> tuple[dict[Ref, ObservedSecret], dict[Ref, ObservedServiceAccount]]:
    """Namespace-scoped RBAC: list only where targets are, and where we wrote before
    (``dropped`` from the config since). A target namespace we may not read (a
    missing RoleBinding, say) fails its own objects; the others sync. A dropped one
    we may no longer read is reported: what we wrote there cannot be pruned."""
    secrets: dict[Ref, ObservedSecret] = {}
    accounts: dict[Ref, ObservedServiceAccount] = {}
    for ns in sorted(targets | dropped):
        try:
            secrets.update(kube.managed_secrets([ns]))
            accounts.update(kube.managed_service_accounts([ns]))
        except KubeError as exc:
            if exc.transient:
                raise  # the API server itself is in trouble: fail the cycle
            log.error("namespace_unreadable", namespace=ns, error=str(exc))
            if ns in dropped:
                summary.unreadable.add(ns)
                summary.problems.append(
                    f"namespace {ns!r} was dropped from the config, but what we wrote there "
                    f"can no longer be read or pruned ({exc}); grant access again so it is "
                    "removed, or remove it by hand")
            for table in (rendered.secrets, rendered.service_accounts):
                for ref in [r for r in table if r[0] == ns]:
                    obj = table.pop(ref)
                    summary.objects.append(ObjectResult(
                        kind=kind_of(obj), namespace=ns, name=ref[1], outcome="error",
                        reason=str(exc), credentials=tuple(sorted(obj.credentials))))
    return secrets, accounts


def _recall(memory: NamespaceMemory | None, summary: Summary) -> set[str]:
    if memory is None:
        return set()
    try:
        return memory.load()
    except KubeError as exc:
        summary.problems.append(f"cannot read the namespaces we wrote to before ({exc}); "
                                "a namespace dropped from the config is not pruned")
        return set()


def _remember(memory: NamespaceMemory | None, summary: Summary, *, before: set[str],
              unlisted: set[str], secrets: dict[Ref, ObservedSecret],
              accounts: dict[Ref, ObservedServiceAccount]) -> None:
    """Namespaces where something of ours is (or may still be) after this cycle:
    the ones we want objects in, the ones where an object of ours was seen and not
    removed, and the ones we could not (or did not) look at."""
    if memory is None or summary.desired is None:
        return
    rendered = summary.desired.rendered
    wanted = {ns for ns, _ in rendered.secrets} | {ns for ns, _ in rendered.service_accounts}
    removed = {(r.kind, r.namespace, r.name) for r in summary.objects
               if r.outcome == "deleted" or (r.outcome == "updated"
                                             and r.reason.startswith("pruned"))}
    left = {ns for ns, name in secrets if secrets[(ns, name)].managed
            and ("Secret", ns, name) not in removed}
    left |= {ns for ns, name in accounts if accounts[(ns, name)].managed
             and ("ServiceAccount", ns, name) not in removed}
    after = wanted | left | summary.unreadable | unlisted
    if after == before:
        return
    try:
        memory.save(after)
    except KubeError as exc:
        summary.problems.append(f"cannot record the namespaces we write to ({exc})")


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


def run(config: settings.Config, vault: VaultPort, kube: KubePort, *, dry_run: bool = False,
        only: Iterable[str] | None = None, fence: Fence = open_fence,
        state: CycleState | None = None, memory: NamespaceMemory | None = None,
        prune_confirmed: bool = False) -> Summary:
    """Run one cycle and return what happened; never raises for one entry's failure.

    ``fence`` is asked before every write: once it says no (SIGTERM, leadership
    lost) no new write starts; writes in flight finish. ``memory`` remembers, in
    namespace-scoped mode, the namespaces we wrote to, so prune still reaches one
    that was dropped from the config.
    """
    started = time.monotonic()
    only_set = set(only) if only is not None else None
    state = state or CycleState(config.sync.rollouts_per_minute)
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
    remembered: set[str] = set()
    dropped: set[str] = set()
    if config.sync.namespace_scoped:
        targets = render.target_namespaces(config, namespaces)
        remembered = _recall(memory, summary)
        # Without prune nothing is removed from a dropped namespace: no need to list it.
        dropped = remembered - targets if config.sync.prune else set()
        observed_secrets, observed_sas = _list_per_namespace(
            kube, targets, dropped, rendered, summary)
    else:
        observed_secrets = kube.managed_secrets()
        observed_sas = kube.managed_service_accounts()
    _reread_known_conflicts(kube, state, rendered, observed_secrets)
    prune = config.sync.prune and only_set is None and not summary.errors
    now = stamp()
    writer = Writer(kube, config.sync.concurrency, fence)

    # Phase 1: Secrets.
    secret_results = writer.apply_all(
        [(d, observed_secrets.get(d.ref)) for d in rendered.secrets.values()],
        lambda d, o: diff.diff_secret(d, o, now=now, prune=prune),
        lambda d: kube.get_secret(d.namespace, d.name))
    summary.objects.extend(secret_results)
    state.conflicts = {(r.namespace, r.name) for r in secret_results if r.outcome == "conflict"}
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
    state.rollouts.record(
        [d for r in secret_results if r.outcome == "updated" and r.content_changed
         and (d := rendered.secrets.get((r.namespace, r.name))) and d.rollout],
        rendered, config.kserve.storage_spec_secret_name)
    if state.rollouts.pending:
        summary.objects.extend(state.rollouts.roll(kube, now, fence))

    # Phase 4: prune what we own and no entry wants (off by default).
    if prune:
        _prune(config, writer, rendered, secrets=observed_secrets, accounts=observed_sas,
               summary=summary, confirmed=prune_confirmed)
    if config.sync.namespace_scoped and only_set is None:
        unlisted = remembered - render.target_namespaces(config, namespaces) - dropped
        _remember(memory, summary, before=remembered, unlisted=unlisted,
                  secrets=observed_secrets, accounts=observed_sas)

    summary.duration = time.monotonic() - started
    for error in summary.errors:
        log.error("entry_failed", credential=error.credential, error=error.reason)
    for problem in summary.problems:
        log.error("cycle_problem", problem=problem)
    return summary


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


def _prune(config: settings.Config, writer: Writer, rendered: render.Rendered, *,
           secrets: dict[Ref, ObservedSecret], accounts: dict[Ref, ObservedServiceAccount],
           summary: Summary, confirmed: bool) -> None:
    """ServiceAccount entries first; a Secret only once nothing of ours lists it."""
    todo = prune.plan(rendered, secrets, accounts,
                      configured={c.name for c in config.credentials},
                      max_fraction=config.sync.prune_max_fraction, confirmed=confirmed)
    if todo.refused:
        summary.prune_refused = todo.refused
        summary.problems.append(f"prune refused: {todo.refused}")
        return
    account_results = writer.run([step.action for step in todo.accounts])
    summary.objects.extend(account_results)
    failed = {(r.namespace, r.name) for r in account_results
              if r.outcome in ("error", "skipped")}
    summary.objects.extend(writer.run(prune.secrets_after(todo, failed)))


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
