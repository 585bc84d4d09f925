"""The drift-repair worker: watch events in, repairs out, on one supervised thread.

A repair that fails for any reason is logged, counted and the next event is
taken; the thread must not die of one bad event. Should it die anyway, the
daemon's supervision (:meth:`RepairWorker.supervise`, called every half
second) starts it again; after ``max_restarts`` deaths in a minute it stays
down and liveness fails, so Kubernetes restarts the pod.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import structlog

from syncer import repair
from syncer.outcome import DesiredState, ObjectResult
from syncer.ports import KubePort
from syncer.writer import Fence

log = structlog.get_logger(__name__)
Event = tuple[str, str, Any]  # (kind, type, observed object or None)


class RepairWorker:
    def __init__(self, kube: KubePort, *, desired: Callable[[], DesiredState | None],
                 lock: threading.Lock, fence: Fence,
                 on_repaired: Callable[[list[ObjectResult]], None],
                 on_failure: Callable[[], None], on_restart: Callable[[], None],
                 resync: Callable[[], None], max_restarts: int = 5,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._kube = kube
        self._desired = desired
        self._lock = lock  # held by cycles too: a repair never writes during a cycle
        self._fence = fence
        self._on_repaired = on_repaired
        self._on_failure = on_failure
        self._on_restart = on_restart
        self._resync = resync
        self._max_restarts = max_restarts
        self._clock = clock
        self._events: queue.Queue[Event] = queue.Queue(maxsize=10000)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._deaths: list[float] = []
        self.restarts = 0

    def submit(self, kind: str, event_type: str, observed: Any) -> None:
        """Called by the watch threads; never blocks them."""
        try:
            self._events.put_nowait((kind, event_type, observed))
        except queue.Full:  # a flood: one full cycle covers whatever was dropped
            self._resync()

    def drain(self) -> None:
        """Forget queued events (leadership lost: they are someone else's to repair)."""
        with contextlib.suppress(queue.Empty):
            while True:
                self._events.get_nowait()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="repair", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def supervise(self) -> bool:
        """Restart a dead worker; False once it died too often to keep trying."""
        if self._thread is None or self.alive() or self._stop.is_set():
            return True
        now = self._clock()
        self._deaths = [t for t in self._deaths if now - t < 60] + [now]
        if len(self._deaths) > self._max_restarts:
            return False
        self.restarts += 1
        self._on_restart()
        log.error("repair_worker_restarted", restarts=self.restarts)
        self.start()
        return True

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                event = self._events.get(timeout=0.5)
            except queue.Empty:
                continue
            try:
                self.handle(*event)
            except Exception as exc:  # noqa: BLE001 - one bad event must not end repairs
                self._on_failure()
                log.error("repair_failed", kind=event[0], error=str(exc),
                          error_type=type(exc).__name__)

    def handle(self, kind: str, event_type: str, observed: Any) -> None:
        if event_type == "RESYNC":
            self._resync()
            return
        with self._lock:
            last = self._desired()  # read under the lock: a cycle may be replacing it
            if last is None or self._fence():
                return
            results = repair.repair(self._kube, last, kind,
                                    (observed.namespace, observed.name),
                                    None if event_type == "DELETED" else observed,
                                    fence=self._fence)
        if results:
            self._on_repaired(results)
