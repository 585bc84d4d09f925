"""Namespace-scoped mode: list only where targets are and where we wrote before.

With RoleBindings per target namespace instead of cluster-wide read, the cycle
lists namespace by namespace. The namespaces we wrote to are remembered
(:mod:`syncer.memory`), so one dropped from the config is still listed - and
pruned - while RBAC allows, and reported when it no longer does.
"""

from __future__ import annotations

import structlog

from syncer import render
from syncer.errors import KubeError
from syncer.memory import NamespaceMemory
from syncer.model import ObservedSecret, ObservedServiceAccount, Ref
from syncer.outcome import ObjectResult, Summary
from syncer.ports import KubePort
from syncer.writer import kind_of

log = structlog.get_logger(__name__)


def list_per_namespace(kube: KubePort, targets: set[str], dropped: set[str],
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


def _report(summary: Summary, prune: bool, text: str) -> None:
    # Only prune needs the memory: without it, not reaching it is worth a warning.
    (summary.problems if prune else summary.warnings).append(text)


def recall(memory: NamespaceMemory | None, summary: Summary, *, prune: bool) -> set[str]:
    if memory is None:
        return set()
    try:
        return memory.load()
    except KubeError as exc:
        _report(summary, prune, f"cannot read the namespaces we wrote to before ({exc}); "
                "a namespace dropped from the config is not pruned")
        return set()


def remember(memory: NamespaceMemory | None, summary: Summary, *, prune: bool,
             before: set[str], unlisted: set[str], secrets: dict[Ref, ObservedSecret],
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
        _report(summary, prune, f"cannot record the namespaces we write to ({exc}); a "
                "namespace dropped from the config later will not be pruned")
