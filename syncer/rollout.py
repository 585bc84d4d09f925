"""The rollout phase: restart the consumers of rotated Secrets (targets with
``rollout: true``), once per rotation, within a rate limit across cycles.

Which workloads consume what, and the patch, are pure (:mod:`syncer.consumers`);
this module holds the state that outlives a cycle and talks to the adapter.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import structlog

from syncer import consumers, diff, render, settings
from syncer.errors import KubeError
from syncer.model import DesiredSecret, Ref
from syncer.outcome import ObjectResult
from syncer.ports import WorkloadPort
from syncer.writer import Fence, open_fence

log = structlog.get_logger(__name__)
PATCHES: dict[str, Callable[[consumers.Rotated, str], dict[str, Any]]] = {
    "Deployment": consumers.deployment_patch,
    "InferenceService": consumers.isvc_patch,
    "LLMInferenceService": consumers.llmisvc_patch,
}


class RateLimiter:
    """At most ``per_minute`` rollouts in any sliding minute, across cycles."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._times: list[float] = []
        self._lock = threading.Lock()

    def allow(self) -> bool:
        with self._lock:
            now = self._clock()
            self._times = [t for t in self._times if now - t < 60]
            if len(self._times) >= self.per_minute:
                return False
            self._times.append(now)
            return True


class Rollouts:
    """Rollout state that outlives a cycle: the rate limit and rotations whose
    consumers could not all be restarted yet (rate-limited or failed)."""

    def __init__(self, per_minute: int) -> None:
        self.limiter = RateLimiter(per_minute)
        self.pending: dict[Ref, consumers.Rotated] = {}

    def record(self, rotated: Iterable[DesiredSecret], rendered: render.Rendered,
               kserve: settings.KServeSettings) -> None:
        """Remember this cycle's rotated Secrets (with rollout on) and who may use them."""
        rotated = list(rotated)
        if not rotated:
            return  # the index below costs 8 % of a no-op cycle at 10,000 targets
        listing: dict[Ref, set[str]] = defaultdict(set)  # (namespace, Secret) -> accounts
        for sa in rendered.service_accounts.values():
            for name in sa.secrets:
                listing[(sa.namespace, name)].add(sa.name)
        for desired in rotated:
            self.pending[desired.ref] = consumers.Rotated(
                desired.namespace, desired.name, diff.data_hash(desired),
                frozenset(listing[desired.ref]),
                storage_spec=desired.name == kserve.storage_spec_secret_name,
                storage_annotation=kserve.storage_secret_name_annotation)

    def roll(self, kube: WorkloadPort, now: str, fence: Fence = open_fence
             ) -> list[ObjectResult]:
        """Bump each consumer once per rotation, within the rate limit; keep the rest pending."""
        results: list[ObjectResult] = []
        for ref, rotated in sorted(self.pending.items()):
            if fence():
                break  # the rest stays pending for whoever writes next
            done = True
            for kind, patch in PATCHES.items():
                try:
                    items = consumers.consumers(kube.list_workloads(kind, rotated.namespace),
                                                kind, rotated)
                except KubeError as exc:
                    log.warning("rollout_list_failed", kind=kind, namespace=rotated.namespace,
                                error=str(exc))
                    done = False
                    continue
                for obj in items:
                    result = self._roll_one(kube, kind, obj, rotated, patch(rotated, now),
                                            fence)
                    results.append(result)
                    done = done and result.outcome == "rolled"
            if done:
                del self.pending[ref]
        return results

    def _roll_one(self, kube: WorkloadPort, kind: str, obj: dict[str, Any],  # noqa: PLR0917
                  rotated: consumers.Rotated, body: dict[str, Any], fence: Fence
                  ) -> ObjectResult:
        name = (obj.get("metadata") or {}).get("name", "")
        ns = rotated.namespace
        closed = fence()
        if closed:
            return ObjectResult(kind=kind, namespace=ns, name=name, outcome="skipped",
                                reason=closed)
        if not self.limiter.allow():
            return ObjectResult(kind=kind, namespace=ns, name=name, outcome="deferred",
                                reason="rollout rate limit")
        try:
            kube.patch_workload(kind, ns, name, body)
        except KubeError as exc:
            return ObjectResult(kind=kind, namespace=ns, name=name, outcome="error",
                                reason=str(exc))
        log.info("rollout", kind=kind, namespace=ns, name=name, secret=rotated.secret)
        return ObjectResult(kind=kind, namespace=ns, name=name, outcome="rolled",
                            reason=f"after rotation of Secret {rotated.secret}",
                            uid=str((obj.get("metadata") or {}).get("uid", "")))
