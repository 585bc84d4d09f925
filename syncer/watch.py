"""Watch the objects we manage so tampering is repaired in seconds, not at the next interval.

One thread per kind streams label-selected watch events (only our objects, so
the cost does not grow with the cluster). Each event carries the object, so
the repair diffs it against the last desired state without a GET. A watch the
server closes resumes from the last resourceVersion; 410 Gone (history
compacted) lists again and asks for a full resync, since events may be lost.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import structlog

from syncer.errors import KubeError
from syncer.kube import Kube, observed_secret, observed_service_account

log = structlog.get_logger(__name__)

# (kind, event type, object or None). Types: ADDED, MODIFIED, DELETED, RESYNC.
OnEvent = Callable[[str, str, Any], None]
KINDS: dict[str, tuple[str, Callable[[dict[str, Any]], Any]]] = {
    "Secret": ("secrets", observed_secret),
    "ServiceAccount": ("serviceaccounts", observed_service_account),
}


class OwnedWatch:
    def __init__(self, kube: Kube, on_event: OnEvent, *, timeout: int = 240,
                 on_restart: Callable[[str, str], None] | None = None) -> None:
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

    def _list_version(self, plural: str) -> str:
        # A one-item page is enough: the list's resourceVersion is what we need.
        page = self._kube.request("GET", f"/api/v1/{plural}?limit=1&labelSelector="
                                  "app.kubernetes.io%2Fmanaged-by%3Dkserve-vault-sync",
                                  what=f"list {plural} for watch")
        return str((page.get("metadata") or {}).get("resourceVersion", ""))

    def _run(self, kind: str) -> None:
        plural, convert = KINDS[kind]
        version = ""
        backoff = 0.5
        while not self._stop.is_set():
            try:
                if not version:
                    version = self._list_version(plural)
                for event_type, obj in self._kube.watch(plural, version, timeout=self._timeout):
                    version = (obj.get("metadata") or {}).get("resourceVersion") or version
                    if event_type in ("ADDED", "MODIFIED", "DELETED"):
                        self._on_event(kind, event_type, convert(obj))
                    if self._stop.is_set():
                        return
                backoff = 0.5  # the server ended the watch normally: resume
            except Exception as exc:  # noqa: BLE001 - this thread must never die
                if isinstance(exc, KubeError) and exc.status == 410:
                    log.info("watch_expired", kind=kind)
                    self._on_restart(kind, "gone")
                    version = ""
                    self._on_event(kind, "RESYNC", None)  # events may have been missed
                    continue
                log.warning("watch_failed", kind=kind, error=str(exc), retry_in=backoff)
                self._on_restart(kind, "error")
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
