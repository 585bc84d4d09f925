"""No secret value reaches a log line, an error message or a repr, in any form
the value or a server's echo of it may take."""

from __future__ import annotations

import base64
import pickle

import pytest
import structlog

from syncer import logs
from syncer.errors import short
from syncer.secretvalue import SecretValue
from tests import seeds


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
        pickle.dumps(value)


def test_scrub_finds_every_value_longest_first() -> None:
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
