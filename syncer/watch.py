"""Watch the objects we manage so tampering is repaired in seconds, not at the next interval.

One thread per kind streams label-selected watch events (only our objects, so
the cost does not grow with the cluster). Each event carries the object, so
the repair diffs it against the last desired state without a GET. A watch the
server closes resumes from the last resourceVersion; 410 Gone (history
compacted) lists again and asks for a full resync, since events may be lost.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import structlog

from syncer import observed
from syncer.cache import WatchCache
from syncer.errors import KubeGone
from syncer.model import DEFAULT_INSTANCE, Ref

log = structlog.get_logger(__name__)

# (kind, event type, object or None). Types: ADDED, MODIFIED, DELETED, RESYNC.
OnEvent = Callable[[str, str, Any], None]
KINDS: dict[str, Callable[[dict[str, Any], str], Any]] = {
    "Secret": observed.observed_secret,
    "ServiceAccount": observed.observed_service_account,
}


class WatchAPI(Protocol):
    def list_version(self, kind: str) -> str: ...
    def list_managed(self, kind: str) -> tuple[dict[Ref, Any], str]: ...
    def watch(self, kind: str, resource_version: str, *, timeout: int = 240
              ) -> Iterator[tuple[str, dict[str, Any]]]: ...


class OwnedWatch:
    def __init__(self, kube: WatchAPI, on_event: OnEvent, *, timeout: int = 240,
                 on_restart: Callable[[str, str], None] | None = None,
                 instance: str = DEFAULT_INSTANCE, cache: WatchCache | None = None) -> None:
        self._instance = instance
        self._cache = cache
        self._kube = kube
        self._on_event = on_event
        self._on_restart = on_restart or (lambda kind, why: None)
        self._timeout = timeout
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for kind in KINDS:
            thread = threading.Thread(target=self._run, args=(kind,), daemon=True,
                                      name=f"watch-{kind}")
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()  # threads are daemons: a blocked read ends with the process

    def _run(self, kind: str) -> None:
        convert = KINDS[kind]
        version = ""
        backoff = 0.5
        while not self._stop.is_set():
            try:
                if not version:
                    version = self._start(kind)
                for event_type, obj in self._kube.watch(kind, version, timeout=self._timeout):
                    version = (obj.get("metadata") or {}).get("resourceVersion") or version
                    if event_type in ("ADDED", "MODIFIED", "DELETED"):
                        seen = convert(obj, self._instance)
                        if self._cache is not None:
                            self._cache.apply(kind, event_type, seen)
                        self._on_event(kind, event_type, seen)
                    if self._stop.is_set():
                        return
                backoff = 0.5  # the server ended the watch normally: resume
            except KubeGone:
                if self._cache is not None:
                    self._cache.lost(kind)
                log.info("watch_expired", kind=kind)
                self._on_restart(kind, "gone")
                version = ""
                self._on_event(kind, "RESYNC", None)  # events may have been missed
            except Exception as exc:  # noqa: BLE001 - this thread must never die
                if self._cache is not None:
                    # Events may be missed while disconnected: not trusted until it has
                    # listed again (the next attempt starts with a list).
                    self._cache.lost(kind)
                    version = ""
                log.warning("watch_failed", kind=kind, error=str(exc), retry_in=backoff)
                self._on_restart(kind, "error")
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)

    def _start(self, kind: str) -> str:
        """Where a watch of ``kind`` starts: with a cache, a full list that fills it."""
        if self._cache is None:
            return self._kube.list_version(kind)
        items, version = self._kube.list_managed(kind)
        self._cache.reset(kind, items)
        return version
