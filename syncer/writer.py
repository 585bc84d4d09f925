"""Apply a cycle's actions to the cluster: concurrently, bounded, and stoppable.

A create that meets an existing object (409: someone else wrote first) is
re-read and re-diffed rather than failed, at most ``MAX_CONFLICT_RETRIES``
times. Once ``stop`` is set (SIGTERM) no new write starts; writes in flight
finish, so every object is written by exactly one atomic request or not at all.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import structlog

from syncer import diff
from syncer.errors import KubeConflict, KubeError, SyncError
from syncer.model import DesiredSecret, DesiredServiceAccount
from syncer.outcome import ObjectResult, Outcome
from syncer.ports import KubePort

log = structlog.get_logger(__name__)
MAX_CONFLICT_RETRIES = 3

Desired = DesiredSecret | DesiredServiceAccount
# Asked before every write: None to go ahead, or why no write may start now
# ("shutting down", "not the leader any more").
Fence = Callable[[], str | None]
Differ = Callable[[Any, Any], list[diff.Action]]
Reread = Callable[[Any], Any]
_OUTCOME: dict[str, Outcome] = {"create": "created", "patch": "updated", "delete": "deleted"}


def open_fence() -> str | None:
    return None


def stop_fence(stop: threading.Event) -> Fence:
    """A fence that closes once ``stop`` is set (SIGTERM)."""
    return lambda: "shutting down" if stop.is_set() else None


def stamp() -> str:
    """Now, in the format of our ``synced-at`` annotation."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def kind_of(desired: Desired) -> str:
    return "Secret" if isinstance(desired, DesiredSecret) else "ServiceAccount"


def _all_held(desired: Desired) -> bool:
    if isinstance(desired, DesiredSecret):
        return not desired.keys and bool(desired.held_keys)
    return not desired.secrets and bool(desired.held_secrets)


def _result(action: diff.Action, outcome: Outcome, reason: str = "",
            creds: tuple[str, ...] = (), *, content_changed: bool = False,
            uid: str = "") -> ObjectResult:
    return ObjectResult(kind=action.kind, namespace=action.namespace, name=action.name,
                        outcome=outcome, reason=reason, credentials=creds,
                        content_changed=content_changed, uid=uid or action.uid)


class Writer:
    """Applies actions concurrently (bounded by sync.concurrency); asks ``fence``
    before each write, so none starts once the syncer stops or loses leadership."""

    def __init__(self, kube: KubePort, workers: int, fence: Fence = open_fence) -> None:
        self.kube = kube
        self.workers = workers
        self.fence = fence

    def apply_all(self, pairs: list[tuple[Any, Any]], differ: Differ, reread: Reread
                  ) -> list[ObjectResult]:
        """Diff each (desired, observed) pair and write what differs."""
        results: list[ObjectResult] = []
        work: list[tuple[Any, diff.Action]] = []
        for desired, observed in pairs:
            actions = differ(desired, observed)
            creds = tuple(sorted(desired.credentials))
            if not actions:
                outcome: Outcome = "unchanged"
                why = ""
                if _all_held(desired):
                    outcome = "held"
                elif observed is None:  # a ServiceAccount whose Secrets do not exist yet
                    outcome, why = "pending", "waits for its Secret to exist"
                results.append(ObjectResult(kind=kind_of(desired), namespace=desired.namespace,
                                            name=desired.name, outcome=outcome, reason=why,
                                            credentials=creds,
                                            uid=observed.uid if observed is not None else ""))
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
        """``fn`` over ``items`` on up to ``workers`` threads, results in order. Each
        thread takes the next item when it is free (one task per thread, not a Future
        per write: at 20,000 writes the bookkeeping showed in the profile)."""
        if not items:
            return []
        workers = max(1, min(self.workers, len(items)))
        if workers == 1:
            return [fn(item) for item in items]
        out: list[ObjectResult | None] = [None] * len(items)
        take = iter(range(len(items))).__next__  # next() on a range iterator is atomic

        def work() -> None:
            for i in iter(next_index, -1):
                out[i] = fn(items[i])

        def next_index() -> int:
            try:
                return take()
            except StopIteration:
                return -1

        with ThreadPoolExecutor(max_workers=workers) as pool:
            for running in [pool.submit(work) for _ in range(workers)]:
                running.result()  # re-raises a worker's exception here
        return [r for r in out if r is not None]

    @staticmethod
    def _conflict(action: diff.Action, reason: str, creds: tuple[str, ...]) -> ObjectResult:
        log.warning("conflict", kind=action.kind, namespace=action.namespace,
                    name=action.name, reason=reason)
        return _result(action, "conflict", reason, creds)

    def apply(self, desired: Any, action: diff.Action, differ: Differ | None,
              reread: Reread | None) -> ObjectResult:
        """Apply one action; a create that meets an existing object re-reads and re-diffs."""
        creds = tuple(sorted(desired.credentials)) if desired is not None else ()
        for _ in range(MAX_CONFLICT_RETRIES):
            closed = self.fence()
            if closed:
                return _result(action, "skipped", closed, creds)
            try:
                uid = self._write(action)
            except KubeError as exc:
                if not isinstance(exc, KubeConflict) or differ is None or reread is None:
                    log.error("write_failed", kind=action.kind, namespace=action.namespace,
                              name=action.name, error=str(exc))
                    return _result(action, "error", str(exc), creds)
                # Someone else has it (or wrote first). Re-read, re-diff, try again.
                try:
                    actions = differ(desired, reread(desired))
                except KubeError as reread_exc:
                    log.error("write_failed", kind=action.kind, namespace=action.namespace,
                              name=action.name, error=str(reread_exc))
                    return _result(action, "error", str(reread_exc), creds)
                writes = [a for a in actions if a.verb != "conflict"]
                conflicts = [a for a in actions if a.verb == "conflict"]
                if not writes:
                    if conflicts:
                        return self._conflict(action, conflicts[0].reason, creds)
                    return _result(action, "unchanged", "", creds)
                action = writes[0]
                continue
            # Debug: at 10,000 targets a line per write was a tenth of a first sync's
            # time; the cycle's summary line, the metrics and the Events say what changed.
            log.debug("write", kind=action.kind, namespace=action.namespace, name=action.name,
                      action=action.verb, reason=action.reason)
            return _result(action, _OUTCOME[action.verb], action.reason, creds,
                           content_changed=action.content_changed, uid=uid)
        return _result(action, "error",
                       f"still conflicting after {MAX_CONFLICT_RETRIES} re-reads", creds)

    def _write(self, action: diff.Action) -> str:
        """Send one action; the object's uid (empty after a delete)."""
        if action.verb == "create":
            assert action.body is not None
            return self.kube.create(action.kind, action.namespace, action.body)
        if action.verb == "patch":
            assert action.body is not None
            return self.kube.patch(action.kind, action.namespace, action.name, action.body)
        if action.verb == "delete":
            self.kube.delete(action.kind, action.namespace, action.name)
            return ""
        raise SyncError(f"cannot write a {action.verb}")  # pragma: no cover - never written
