"""The one retry policy (syncer/retry.py): which failures are retried, how many
times, and how long it waits (Retry-After honoured, but capped)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from structlog.testing import capture_logs

from syncer import retry
from syncer.errors import KubeError, VaultError

FAST = retry.RetryPolicy(attempts=4, initial=0.001, maximum=0.01)

CASES: list[tuple[str, Exception, int]] = [
    ("connection refused", KubeError("unreachable"), 4),
    ("429", KubeError("throttled", status=429, retry_after=0.001), 4),
    ("500", KubeError("boom", status=500), 4),
    ("503", KubeError("unavailable", status=503), 4),
    ("400", KubeError("bad", status=400), 1),
    ("403", KubeError("forbidden", status=403), 1),
    ("404", KubeError("gone", status=404), 1),
    ("409", KubeError("conflict", status=409), 1),  # reconcile re-reads instead
    ("422", KubeError("invalid", status=422), 1),
    ("vault down", VaultError("down", transient=True), 4),
    ("vault 403", VaultError("denied", status=403), 1),
    ("other", ValueError("bug"), 1),
]


@pytest.mark.parametrize(("case", "error", "calls"), CASES, ids=[c[0] for c in CASES])
def test_retried_only_when_transient(case: str, error: Exception, calls: int) -> None:
    seen = 0

    def fail() -> None:
        nonlocal seen
        seen += 1
        raise error

    with capture_logs() as logged, pytest.raises(type(error)):
        FAST.call(case, fail)
    assert seen == calls
    assert sum(1 for e in logged if e["event"] == "retrying") == calls - 1


def test_recovers_after_transient_failures() -> None:
    outcomes: Iterator[Exception | str] = iter(
        [KubeError("x", status=503), KubeError("x"), "ok"])

    def flaky() -> str:
        result = next(outcomes)
        if isinstance(result, Exception):
            raise result
        return result

    assert FAST.call("flaky", flaky) == "ok"


WAITS: list[tuple[str, Exception, float, float]] = [
    # (case, error, lowest allowed wait, highest allowed wait) with initial=0.1, maximum=2
    ("Retry-After below the cap is waited exactly", KubeError("x", status=429,
                                                              retry_after=0.7), 0.7, 0.7),
    ("Retry-After above the cap is cut to it", KubeError("x", status=429, retry_after=30),
     2.0, 2.0),
    ("no Retry-After: jittered exponential", KubeError("x", status=503), 0.0, 0.2),
    ("Vault has no Retry-After", VaultError("x", transient=True), 0.0, 0.2),
]


@pytest.mark.parametrize(("case", "error", "low", "high"), WAITS, ids=[w[0] for w in WAITS])
def test_wait_before_the_first_retry(case: str, error: Exception, low: float,
                                     high: float) -> None:
    waits: list[float] = []
    policy = retry.RetryPolicy(attempts=2, initial=0.1, maximum=2.0, sleep=waits.append)
    with pytest.raises(type(error)):
        policy.call(case, lambda: (_ for _ in ()).throw(error))
    assert len(waits) == 1 and low <= waits[0] <= high, waits
