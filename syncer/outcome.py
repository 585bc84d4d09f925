"""What a cycle did, object by object, and what it wanted: the results that the
CLI prints, metrics count and drift repair keeps between cycles."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from syncer import render
from syncer.model import EntryError, Ref

Outcome = Literal[
    "created", "updated", "deleted", "unchanged",
    "conflict",   # an object or key we did not write stands in the way (no adopt)
    "error",      # the write (or the read before it) failed
    "held",       # every credential for it failed this cycle: left exactly as it is
    "skipped",    # not written because the syncer is shutting down
    "rolled",     # a consumer restarted after a rotation
    "deferred",   # a consumer restart postponed by the rate limit, or a pruned
                  # Secret's removal postponed to a later cycle (still listed)
    "pending",    # a ServiceAccount not created until its Secret exists
]
WRITES: frozenset[Outcome] = frozenset({"created", "updated", "deleted", "rolled"})
FAILURES: frozenset[Outcome] = frozenset({"conflict", "error", "skipped"})


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectResult:
    kind: str
    namespace: str
    name: str
    outcome: Outcome
    reason: str = ""
    credentials: tuple[str, ...] = ()
    content_changed: bool = False
    uid: str = ""  # of the object, when known: Events name it (kubectl describe)


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
    # Failures not tied to one entry: a refused prune, a namespace we wrote to and
    # may no longer read. Each makes the cycle fail (exit 1, alert).
    problems: list[str] = field(default_factory=list)
    prune_refused: str | None = None
    unreadable: set[str] = field(default_factory=set)  # dropped namespaces we cannot read
    listed: bool = True  # False: the watch cache stood in for the lists
    # Settings of ours that KServe's inferenceservice-config contradicts.
    kserve_drift: list[str] = field(default_factory=list)

    @property
    def counts(self) -> Counter[str]:
        return Counter(o.outcome for o in self.objects)

    @property
    def writes(self) -> int:
        counts = self.counts
        return sum(counts[k] for k in WRITES)

    @property
    def conflicts(self) -> list[ObjectResult]:
        return [o for o in self.objects if o.outcome == "conflict"]

    @property
    def failed(self) -> bool:
        return (bool(self.errors) or bool(self.problems)
                or any(o.outcome in FAILURES for o in self.objects))
