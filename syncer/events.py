"""Kubernetes Events on what we manage, for tenants who cannot read our logs.

``kubectl describe secret s3-secret`` shows ``Synced`` / ``Rotated`` (with the
Vault path and version), ``Held`` (why), ``Conflict``, ``DriftRepaired``;
``kubectl describe deployment`` shows ``RolloutTriggered``. Never a value:
messages carry names, paths, versions and our own reasons, scrubbed again.

Recorded like client-go's recorder: an event equal to one sent in the last ten
minutes (same object, reason and message) bumps that one's ``count`` instead of
adding another; each object may emit at most ``BURST`` events and then one per
``REFILL`` seconds; and one flush sends at most ``PER_FLUSH`` requests, so a
first sync of 10,000 targets costs the API server a bounded number of writes,
not one event per object. What is left out is counted, not queued.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import structlog

from syncer.errors import KubeError, KubeForbidden
from syncer.outcome import ObjectResult, Summary
from syncer.scrub import scrub

log = structlog.get_logger(__name__)
COMPONENT = "kserve-vault-sync"
BURST, REFILL = 25, 300.0  # per object, as client-go's spam filter
PER_FLUSH = 100
AGGREGATE_FOR = 600.0  # seconds an equal event is counted on the one already sent
REMEMBERED = 4096
API_VERSIONS = {"Secret": "v1", "ServiceAccount": "v1", "Deployment": "apps/v1",
                "InferenceService": "serving.kserve.io/v1beta1",
                "LLMInferenceService": "serving.kserve.io/v1alpha2"}


class EventAPI(Protocol):
    def create_event(self, namespace: str, body: dict[str, Any]) -> str: ...
    def patch_event(self, namespace: str, name: str, body: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class Event:
    kind: str
    namespace: str
    name: str
    uid: str
    type: Literal["Normal", "Warning"]
    reason: str
    message: str

    @property
    def key(self) -> tuple[str, ...]:
        return (self.kind, self.namespace, self.name, self.reason, self.message)


def from_summary(summary: Summary) -> list[Event]:
    """The events a cycle's results call for (none for unchanged objects)."""
    held = {e.credential: e.reason for e in summary.errors}
    sources = _sources(summary)
    out = []
    for r in summary.objects:
        event = _event(r, held, sources.get((r.namespace, r.name), ""))
        if event is not None:
            out.append(event)
    return out


def from_repairs(results: Iterable[ObjectResult]) -> list[Event]:
    return [Event(r.kind, r.namespace, r.name, r.uid, "Normal", "DriftRepaired",
                  f"changed outside kserve-vault-sync; restored ({r.reason})")
            for r in results if r.outcome in ("created", "updated")]


def _sources(summary: Summary) -> dict[tuple[str, str], str]:
    if summary.desired is None:
        return {}
    return {ref: ", ".join(sorted({kv.source for kv in secret.keys.values()}))
            for ref, secret in summary.desired.rendered.secrets.items()}


def _event(r: ObjectResult, held: dict[str, str], source: str) -> Event | None:
    def make(kind: Literal["Normal", "Warning"], reason: str, message: str) -> Event:
        return Event(r.kind, r.namespace, r.name, r.uid, kind, reason, message)

    if r.outcome == "created":
        return make("Normal", "Synced", f"created from Vault {source}".rstrip()
                    if r.kind == "Secret" else "created, listing our Secrets")
    if r.outcome == "updated" and r.content_changed:
        return make("Normal", "Rotated", f"new credential from Vault {source}")
    if r.outcome == "held":
        why = "; ".join(sorted({held[c] for c in r.credentials if c in held}))
        return make("Warning", "Held", f"left as it is: {why or 'its entry failed'}")
    if r.outcome == "conflict":
        return make("Warning", "Conflict", r.reason)
    if r.outcome == "error":
        return make("Warning", "SyncFailed", r.reason)
    if r.outcome == "rolled":
        return make("Normal", "RolloutTriggered", f"restarted {r.reason}")
    return None


class _Bucket:
    def __init__(self, now: float) -> None:
        self.tokens, self.at = float(BURST), now

    def take(self, now: float) -> bool:
        self.tokens = min(BURST, self.tokens + (now - self.at) / REFILL)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class Recorder:
    """Sends events through ``api``; aggregated, rate-limited, never raises."""

    def __init__(self, api: EventAPI, *, instance: str = "", dropped: Callable[[int], None]
                 = lambda n: None, clock: Callable[[], float] = time.monotonic) -> None:
        self._api = api
        self._instance = instance
        self._dropped = dropped
        self._clock = clock
        self._lock = threading.Lock()
        # event key -> (its name in the cluster, count, when last sent)
        self._sent: OrderedDict[tuple[str, ...], tuple[str, int, float]] = OrderedDict()
        self._buckets: OrderedDict[tuple[str, str, str], _Bucket] = OrderedDict()
        self._refused: set[str] = set()  # namespaces where we may not write events

    def emit(self, events: Iterable[Event]) -> int:
        """Send what the limits allow; return how many requests were made."""
        with self._lock:
            sent = dropped = 0
            for event in events:
                if event.namespace in self._refused or sent >= PER_FLUSH \
                        or not self._allowed(event):
                    dropped += 1
                    continue
                sent += self._send(event)
            if dropped:
                self._dropped(dropped)
            return sent

    def _allowed(self, event: Event) -> bool:
        now = self._clock()
        key = (event.kind, event.namespace, event.name)
        bucket = self._buckets.pop(key, None) or _Bucket(now)
        self._buckets[key] = bucket
        while len(self._buckets) > REMEMBERED:
            self._buckets.popitem(last=False)
        return bucket.take(now)

    def _send(self, event: Event) -> int:
        now, stamp = self._clock(), datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        previous = self._sent.pop(event.key, None)
        try:
            if previous is not None and now - previous[2] < AGGREGATE_FOR:
                name, count = previous[0], previous[1] + 1
                self._api.patch_event(event.namespace, name,
                                      {"count": count, "lastTimestamp": stamp})
            else:
                name, count = self._api.create_event(event.namespace, self._body(event, stamp)), 1
        except KubeError as exc:
            if isinstance(exc, KubeForbidden):
                self._refused.add(event.namespace)  # said once, not per event
            log.warning("event_not_recorded", namespace=event.namespace, reason=event.reason,
                        error=str(exc))
            return 1
        self._sent[event.key] = (name, count, now)
        while len(self._sent) > REMEMBERED:
            self._sent.popitem(last=False)
        return 1

    def _body(self, event: Event, stamp: str) -> dict[str, Any]:
        involved = {"kind": event.kind, "namespace": event.namespace, "name": event.name,
                    "apiVersion": API_VERSIONS.get(event.kind, "v1")}
        if event.uid:
            involved["uid"] = event.uid
        return {"apiVersion": "v1", "kind": "Event",
                "metadata": {"generateName": f"{event.name}.", "namespace": event.namespace},
                "involvedObject": involved, "type": event.type, "reason": event.reason,
                "message": scrub(event.message)[:1024],
                "source": {"component": COMPONENT}, "reportingComponent": COMPONENT,
                "reportingInstance": self._instance, "count": 1,
                "firstTimestamp": stamp, "lastTimestamp": stamp}
