"""``POST /trigger``: a rotation pipeline asks for a cycle right after it wrote to Vault.

A replica that will not run the cycle never accepts the request: a standby
answers 503 with ``Retry-After`` (the Service spreads requests over every
replica, so a pipeline retries until it reaches the leader; ``curl --retry``
does that by default). Requests for single credentials (``?only=``) are
folded into one pending cycle, so however many arrive, at most one waits.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable
from dataclasses import dataclass

import structlog

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Reply:
    status: int
    message: str
    retry_after: float | None = None  # seconds, sent as the Retry-After header


class Triggers:
    def __init__(self, token: str, *, known: Callable[[], set[str]],
                 leading: Callable[[], bool], run_all: Callable[[], None],
                 run_only: Callable[[], None], retry_after: float,
                 counted: Callable[[], None]) -> None:
        self._token = token.encode()
        self._known = known
        self._leading = leading
        self._run_all = run_all
        self._run_only = run_only  # schedules one job that calls take_only()
        self._retry_after = retry_after
        self._counted = counted
        self._lock = threading.Lock()
        self._only: set[str] = set()
        self._only_scheduled = False

    def http(self, token: str, only: list[str]) -> Reply:
        if not hmac.compare_digest(token.encode(), self._token):
            return Reply(401, "unauthorized")
        if only and not set(only) <= self._known():
            return Reply(400, "unknown credential name")
        if not self._leading():
            return Reply(503, "not the leader: retry (another replica runs cycles)",
                         retry_after=self._retry_after)
        self._counted()
        self.request(set(only) or None)
        log.info("triggered", only=sorted(only) or "all")
        return Reply(202, "cycle scheduled")

    def request(self, only: set[str] | None = None) -> None:
        """A full cycle now, or one cycle for these credentials (merged with any pending)."""
        if not only:
            self._run_all()
            return
        with self._lock:
            self._only |= only
            if self._only_scheduled:
                return
            self._only_scheduled = True
        self._run_only()

    def take_only(self) -> set[str]:
        """The credentials asked for since the last take; the pending job starts now."""
        with self._lock:
            names, self._only, self._only_scheduled = self._only, set(), False
        return names
