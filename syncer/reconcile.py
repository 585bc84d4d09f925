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
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog

from syncer import diff, render, rollout, settings
from syncer.errors import KubeError, SyncError, VaultError
from syncer.model import (
    DesiredSecret,
    DesiredServiceAccount,
    EntryError,
    ObservedSecret,
    ObservedServiceAccount,
    Ref,
    VaultData,
)

log = structlog.get_logger(__name__)
MAX_CONFLICT_RETRIES = 3
VAULT_READERS = 8  # concurrent Vault reads per cycle


class VaultPort(Protocol):
    def read(self, mount: str, path: str, kv_version: int, version: int | None = None
             ) -> VaultData: ...


class KubePort(Protocol):
    def namespaces(self) -> dict[str, render.Namespace]: ...
    def managed_secrets(self, namespaces: Iterable[str] | None = None
                        ) -> dict[Ref, ObservedSecret]: ...
    def managed_service_accounts(self, namespaces: Iterable[str] | None = None
                                 ) -> dict[Ref, ObservedServiceAccount]: ...
    def get_secret(self, namespace: str, name: str) -> ObservedSecret | None: ...
    def get_service_account(self, namespace: str, name: str
                            ) -> ObservedServiceAccount | None: ...
    def create(self, kind: str, namespace: str, body: dict[str, Any]) -> None: ...
    def patch(self, kind: str, namespace: str, name: str, body: dict[str, Any]) -> None: ...
    def delete(self, kind: str, namespace: str, name: str) -> None: ...
    def list_items(self, path: str) -> list[dict[str, Any]]: ...
    def merge_patch(self, path: str, body: dict[str, Any], what: str) -> None: ...


class Rollouts:
    """Rollout state that outlives a cycle: the rate limit and rotations whose
    consumers could not all be restarted yet (rate-limited or failed)."""

    def __init__(self, per_minute: int) -> None:
        self.limiter = rollout.RateLimiter(per_minute)
        self.pending: dict[Ref, rollout.Rotated] = {}


@dataclass(frozen=True, slots=True)
class ObjectResult:
    kind: str
    namespace: str
    name: str
    # created | updated | deleted | unchanged | conflict | error | held | skipped
    # | rolled | deferred (a consumer restart, or one postponed by the rate limit)
    # | pending (a ServiceAccount not created until its Secret exists)
    outcome: str
    reason: str = ""
    credentials: tuple[str, ...] = ()
    content_changed: bool = False


@dataclass(slots=True)
class DesiredState:
    """What the last cycle wanted and which Secrets a ServiceAccount may list: all
    drift repair needs between cycles. Holds SecretValues; never logged or printed."""

    rendered: render.Rendered
    available: set[Ref]


@dataclass
class Summary:
    objects: list[ObjectResult] = field(default_factory=list)
    errors: list[EntryError] = field(default_factory=list)
    vault_reads: int = 0
    duration: float = 0.0
    dry_run: bool = False
    # What this cycle wanted, for drift repair until the next one.
    desired: DesiredState | None = field(default=None, repr=False)
    # credential -> KV v2 created_time of the version read (rotation latency).
    created: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def counts(self) -> Counter[str]:
        return Counter(o.outcome for o in self.objects)

    @property
    def writes(self) -> int:
        return sum(self.counts[k] for k in ("created", "updated", "deleted", "rolled"))

    @property
    def conflicts(self) -> list[ObjectResult]:
        return [o for o in self.objects if o.outcome == "conflict"]

    @property
    def failed(self) -> bool:
        return bool(self.errors) or any(o.outcome in ("conflict", "error", "skipped")
                                        for o in self.objects)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
                        _kind(obj), ns, ref[1], "error", str(exc),
                        tuple(sorted(obj.credentials))))
    return secrets, accounts


def target_namespaces(config: settings.Config, namespaces: dict[str, render.Namespace]
                      ) -> set[str]:
    """Every namespace any target writes to (what namespace-scoped RBAC must cover).
    All entries, not only an --only subset, so prune never misses one."""
    return {ns for cred in config.credentials for target in cred.targets
            for ns in render.resolve_namespaces(target, namespaces)[0]}


def read_vault(config: settings.Config, vault: VaultPort, only: Iterable[str] | None
               ) -> tuple[dict[render.SourceKey, VaultData | str], int]:
    """Each distinct path once, a few at a time. A failure becomes that path's error text."""
    def read(key: render.SourceKey) -> VaultData | str:
        mount, path, kv_version, version = key
        try:
            return vault.read(mount, path, kv_version, version)
        except VaultError as exc:
            log.warning("vault_read_failed", path=f"{mount}/{path}", error=str(exc))
            return str(exc)

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
            kube, target_namespaces(config, namespaces), rendered, summary)
    else:
        observed_secrets = kube.managed_secrets()
        observed_sas = kube.managed_service_accounts()
    prune = config.sync.prune and only_set is None and not summary.errors
    now = _now()
    writer = _Writer(kube, config.sync.concurrency, stop)

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
    rotated = [d for r in secret_results if r.outcome == "updated" and r.content_changed
               and (d := rendered.secrets.get((r.namespace, r.name))) and d.rollout]
    if rotated:
        listing: dict[Ref, set[str]] = defaultdict(set)  # (namespace, Secret) -> accounts
        for sa in rendered.service_accounts.values():
            for name in sa.secrets:
                listing[(sa.namespace, name)].add(sa.name)
        for desired in rotated:
            rollouts.pending[desired.ref] = rollout.Rotated(
                desired.namespace, desired.name, diff.data_hash(desired),
                frozenset(listing[desired.ref]),
                storage_spec=desired.name == config.kserve.storage_spec_secret_name)
    if rollouts.pending and not stop.is_set():
        summary.objects.extend(_roll(kube, rollouts, now))

    # Phase 4: prune what we own and no entry wants (off by default).
    if prune and not stop.is_set():
        summary.objects.extend(writer.run(_prune_actions(rendered, observed_secrets,
                                                         observed_sas)))

    summary.duration = time.monotonic() - started
    for error in summary.errors:
        log.error("entry_failed", credential=error.credential, error=error.reason)
    return summary


WORKLOADS = {"Deployment": ("/apis/apps/v1/namespaces/{ns}/deployments", rollout.deployment_patch),
             "InferenceService": ("/apis/serving.kserve.io/v1beta1/namespaces/{ns}/"
                                  "inferenceservices", rollout.isvc_patch)}


def _roll(kube: KubePort, state: Rollouts, now: str) -> list[ObjectResult]:
    """Bump each consumer once per rotation, within the rate limit; keep the rest pending."""
    results: list[ObjectResult] = []
    for ref, rotated in sorted(state.pending.items()):
        done = True
        for kind, (path, patch) in WORKLOADS.items():
            base = path.format(ns=rotated.namespace)
            try:
                items = rollout.consumers(kube.list_items(base), kind, rotated)
            except KubeError as exc:
                log.warning("rollout_list_failed", kind=kind, namespace=rotated.namespace,
                            error=str(exc))
                done = False
                continue
            for obj in items:
                name = (obj.get("metadata") or {}).get("name", "")
                if not state.limiter.allow():
                    results.append(ObjectResult(kind, rotated.namespace, name, "deferred",
                                                "rollout rate limit"))
                    done = False
                    continue
                try:
                    kube.merge_patch(f"{base}/{name}", patch(rotated, now),
                                     what=f"roll {kind} {rotated.namespace}/{name}")
                except KubeError as exc:
                    results.append(ObjectResult(kind, rotated.namespace, name, "error",
                                                str(exc)))
                    done = False
                    continue
                log.info("rollout", kind=kind, namespace=rotated.namespace, name=name,
                         secret=rotated.secret)
                results.append(ObjectResult(kind, rotated.namespace, name, "rolled",
                                            f"after rotation of Secret {rotated.secret}"))
        if done:
            del state.pending[ref]
    return results


def merge_partial(last: DesiredState, partial: DesiredState) -> None:
    """Fold an ``--only`` cycle's desired state into the last full one, so drift
    repair restores the new values rather than the ones they replaced."""
    for ref, secret in partial.rendered.secrets.items():
        old = last.rendered.secrets.get(ref)
        if old is None or not secret.shared:
            last.rendered.secrets[ref] = secret
            continue
        old.keys.update(secret.keys)  # shared: only the keys of the credentials re-read
        old.held_keys -= set(secret.keys)
        old.credentials |= secret.credentials
    for ref, account in partial.rendered.service_accounts.items():
        known = last.rendered.service_accounts.setdefault(ref, account)
        if known is not account:
            known.secrets |= account.secrets
    last.available |= partial.available


def repair(kube: KubePort, last: DesiredState, kind: str, ref: Ref, observed: Any, *,
           stop: threading.Event | None = None) -> list[ObjectResult]:
    """Bring one object back to what the last cycle wanted (a watch saw it change).

    Only writes when the object differs, so the events of our own writes end here.
    """
    rendered = last.rendered
    writer = _Writer(kube, 1, stop or threading.Event())
    now = _now()
    if kind == "Secret":
        secret = rendered.secrets.get(ref)
        if secret is None:
            return []
        results = writer.apply_all(
            [(secret, observed)], lambda d, o: diff.diff_secret(d, o, now=now),
            lambda d: kube.get_secret(d.namespace, d.name))
    else:
        account = rendered.service_accounts.get(ref)
        if account is None:
            return []
        allowed = {n for (ns, n) in last.available if ns == ref[0]}
        results = writer.apply_all(
            [(account, observed)],
            lambda d, o: diff.diff_service_account(d, o, available=allowed),
            lambda d: kube.get_service_account(d.namespace, d.name))
    return [r for r in results if r.outcome not in ("unchanged", "held")]


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


def _all_held(desired: DesiredSecret | DesiredServiceAccount) -> bool:
    if isinstance(desired, DesiredSecret):
        return not desired.keys and bool(desired.held_keys)
    return not desired.secrets and bool(desired.held_secrets)


def _kind(desired: object) -> str:
    return "Secret" if isinstance(desired, DesiredSecret) else "ServiceAccount"


_OUTCOME = {"create": "created", "patch": "updated", "delete": "deleted"}
Differ = Callable[[Any, Any], list[diff.Action]]
Reread = Callable[[Any], Any]


class _Writer:
    """Applies actions concurrently (bounded by sync.concurrency) and stops starting
    new writes once ``stop`` is set."""

    def __init__(self, kube: KubePort, workers: int, stop: threading.Event) -> None:
        self.kube = kube
        self.workers = workers
        self.stop = stop

    def apply_all(self, pairs: list[tuple[Any, Any]], differ: Differ, reread: Reread
                  ) -> list[ObjectResult]:
        results: list[ObjectResult] = []
        work: list[tuple[Any, diff.Action]] = []
        for desired, observed in pairs:
            actions = differ(desired, observed)
            creds = tuple(sorted(desired.credentials))
            if not actions:
                outcome, why = "unchanged", ""
                if _all_held(desired):
                    outcome = "held"
                elif observed is None:  # a ServiceAccount whose Secrets do not exist yet
                    outcome, why = "pending", "waits for its Secret to exist"
                results.append(ObjectResult(_kind(desired), desired.namespace, desired.name,
                                            outcome, why, creds))
            for action in actions:
                if action.verb == "conflict":
                    results.append(self._conflict(action, action.reason, creds))
                else:
                    work.append((desired, action))
        results.extend(self._map(lambda w: self.apply(w[0], w[1], differ, reread), work))
        return results

    def run(self, actions: list[diff.Action]) -> list[ObjectResult]:
        """Actions with nothing to re-diff (prune)."""
        return self._map(lambda a: self.apply(None, a, None, None), actions)

    def _map(self, fn: Callable[[Any], ObjectResult], items: list[Any]) -> list[ObjectResult]:
        if not items:
            return []
        with ThreadPoolExecutor(max_workers=max(1, min(self.workers, len(items)))) as pool:
            return list(pool.map(fn, items))

    @staticmethod
    def _conflict(action: diff.Action, reason: str, creds: tuple[str, ...]) -> ObjectResult:
        log.warning("conflict", kind=action.kind, namespace=action.namespace,
                    name=action.name, reason=reason)
        return ObjectResult(action.kind, action.namespace, action.name, "conflict", reason,
                            creds)

    def apply(self, desired: Any, action: diff.Action, differ: Differ | None,
              reread: Reread | None) -> ObjectResult:
        """Apply one action; a create that meets an existing object re-reads and re-diffs."""
        creds = tuple(sorted(desired.credentials)) if desired is not None else ()
        if self.stop.is_set():
            return ObjectResult(action.kind, action.namespace, action.name, "skipped",
                                "shutting down", creds)
        for _ in range(MAX_CONFLICT_RETRIES):
            try:
                self._write(action)
            except KubeError as exc:
                if exc.status != 409 or differ is None or reread is None:
                    log.error("write_failed", kind=action.kind, namespace=action.namespace,
                              name=action.name, error=str(exc))
                    return ObjectResult(action.kind, action.namespace, action.name, "error",
                                        str(exc), creds)
                # 409: someone else has it (or wrote first). Re-read, re-diff, try again.
                actions = differ(desired, reread(desired))
                writes = [a for a in actions if a.verb != "conflict"]
                conflicts = [a for a in actions if a.verb == "conflict"]
                if not writes:
                    if conflicts:
                        return self._conflict(action, conflicts[0].reason, creds)
                    return ObjectResult(action.kind, action.namespace, action.name,
                                        "unchanged", credentials=creds)
                action = writes[0]
                continue
            log.info("write", kind=action.kind, namespace=action.namespace, name=action.name,
                     action=action.verb, reason=action.reason)
            return ObjectResult(action.kind, action.namespace, action.name,
                                _OUTCOME[action.verb], action.reason, creds,
                                action.content_changed)
        return ObjectResult(action.kind, action.namespace, action.name, "error",
                            f"still conflicting after {MAX_CONFLICT_RETRIES} re-reads", creds)

    def _write(self, action: diff.Action) -> None:
        if action.verb == "create":
            assert action.body is not None
            self.kube.create(action.kind, action.namespace, action.body)
        elif action.verb == "patch":
            assert action.body is not None
            self.kube.patch(action.kind, action.namespace, action.name, action.body)
        elif action.verb == "delete":
            self.kube.delete(action.kind, action.namespace, action.name)
        else:  # pragma: no cover - conflicts are never written
            raise SyncError(f"cannot write a {action.verb}")


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
