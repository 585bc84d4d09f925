"""The one retry policy: transient Vault and Kubernetes failures back off with jitter.

Retried: connection errors (no status), 429 (honouring Retry-After) and 5xx.
Everything else - 4xx, bad input, conflicts that need a re-read - goes back
to the caller at once, which decides (reconcile re-reads on 409).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import structlog
import tenacity

from syncer.errors import KubeError, VaultError

T = TypeVar("T")
log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    initial: float = 0.2  # seconds before the first retry
    maximum: float = 5.0  # cap on one wait
    # How to wait; tests record the waits instead of sleeping.
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)

    def call(self, what: str, fn: Callable[[], T]) -> T:
        """Run ``fn``; retry it while it raises a transient error.

        The first attempt runs outside tenacity: nearly every call succeeds at once,
        and at 20,000 writes a cycle tenacity's set-up per call cost more CPU than the
        request itself. Only after a transient failure does tenacity take over, with
        that failure as its first attempt, so waits and logs are the same."""
        try:
            return fn()
        except Exception as exc:
            if not is_transient(exc) or self.attempts <= 1:
                raise
            failed: list[BaseException] = [exc]

        def attempt() -> T:
            if failed:
                raise failed.pop()  # the first attempt, already made
            return fn()

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.attempts),
            wait=_wait(self.initial, self.maximum),
            retry=tenacity.retry_if_exception(is_transient),
            before_sleep=lambda state: log.warning(
                "retrying", what=what, attempt=state.attempt_number,
                error=str(state.outcome.exception()) if state.outcome else ""),
            reraise=True,
            sleep=self.sleep,
        )
        return retrying(attempt)


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, KubeError | VaultError):
        return bool(exc.transient)
    return False


def _wait(initial: float, maximum: float) -> tenacity.wait.wait_base:
    jittered = tenacity.wait_random_exponential(multiplier=initial, max=maximum)

    def wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, KubeError) and exc.retry_after:
            return min(exc.retry_after, maximum)
        return float(jittered(state))

    return _Wait(wait)


class _Wait(tenacity.wait.wait_base):
    def __init__(self, fn: Callable[[tenacity.RetryCallState], float]) -> None:
        self._fn = fn

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        return self._fn(retry_state)


DEFAULT = RetryPolicy()
