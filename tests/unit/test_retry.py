"""The one retry policy (syncer/retry.py): which failures are retried, how many
times, honouring Retry-After; and that errors never carry a secret value."""

from __future__ import annotations

import pytest
import structlog
from structlog.testing import capture_logs

from syncer import logs, retry
from syncer.errors import KubeError, VaultError, short
from syncer.secretvalue import SecretValue
from tests import seeds

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
    outcomes = iter([KubeError("x", status=503), KubeError("x"), "ok"])

    def flaky() -> str:
        result = next(outcomes)
        if isinstance(result, Exception):
            raise result
        return result

    assert FAST.call("flaky", flaky) == "ok"


def test_retry_after_is_honoured_but_capped() -> None:
    policy = retry.RetryPolicy(attempts=2, initial=0.001, maximum=0.05)
    import time
    started = time.monotonic()
    with pytest.raises(KubeError):
        policy.call("x", lambda: (_ for _ in ()).throw(
            KubeError("slow down", status=429, retry_after=30)))
    assert time.monotonic() - started < 1  # capped at `maximum`, not 30 s


def test_server_text_is_scrubbed_and_cut() -> None:
    value = SecretValue(seeds.fake("retry-scrub"))
    text = short(f"invalid value {value.reveal()} " + "x" * 1000)
    assert value.reveal() not in text and "<redacted sha256:" in text
    assert len(text) <= 260


def test_log_redaction_processor() -> None:
    """Even if a value reaches a log call by mistake, the renderer never sees it."""
    value = SecretValue(seeds.fake("log-redact"))
    processor = logs.RedactSecrets()
    event = processor(None, "info", {"event": "oops", "raw": value.reveal(), "wrapped": value,
                                     "nested": {"list": [value.reveal()]}})
    rendered = structlog.processors.JSONRenderer()(None, "info", event)
    assert value.reveal() not in str(rendered)
    assert repr(value) in str(rendered)
    assert str(value) == repr(value) and f"{value}" == repr(value)
    with pytest.raises(TypeError):
        __import__("pickle").dumps(value)


def test_scrub_finds_every_value_longest_first() -> None:
    import base64
    short_one = SecretValue(seeds.fake("scrub-a"))
    longer = SecretValue(short_one.reveal() + "-and-more")
    seeds.register("scrub-b", longer.reveal())
    b64 = base64.b64encode(short_one.reveal().encode()).decode()
    text = f"x {longer.reveal()} y {short_one.reveal()}{short_one.reveal()} {b64} z"
    out = short(text)
    assert short_one.reveal() not in out and b64 not in out
    assert out.count("<redacted sha256:") == 4
    assert out.startswith("x <redacted sha256:") and out.endswith(" z")
    assert short("nothing secret here") == "nothing secret here"
