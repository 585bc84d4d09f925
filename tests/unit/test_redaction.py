"""No secret value reaches a log line, an error message or a repr, in any form
the value or a server's echo of it may take."""

from __future__ import annotations

import base64
import json
import logging
import pickle
import sys
import textwrap
import threading
from collections.abc import Callable
from urllib.parse import quote

import pytest
import structlog

from syncer import logs
from syncer.errors import short
from syncer.scrub import scrub
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


def gcs_key() -> SecretValue:
    """A multi-line value, like a GCS service-account key file."""
    body = "\n".join(seeds.fake(f"gcs-line-{i}") for i in range(4))
    text = ('{\n  "type": "service_account",\n  "private_key": "-----BEGIN PRIVATE KEY-----\\n'
            + body.replace("\n", "\\n") + '\\n-----END PRIVATE KEY-----\\n",\n'
            '  "client_email": "x@y.iam.gserviceaccount.com"\n}\n')
    seeds.register("gcs-key", text)
    return SecretValue(text)


ECHOES: dict[str, Callable[[str], str]] = {
    "verbatim": lambda v: v,
    "line breaks reflowed to spaces": lambda v: " ".join(v.split()),
    "line breaks removed": lambda v: "".join(v.split()),
    "re-indented": lambda v: v.replace("\n", "\n        "),
    "JSON-escaped inside a message": lambda v: json.dumps({"message": v})[13:-2],
    "base64 wrapped at 76 columns": lambda v: "\n".join(
        textwrap.wrap(base64.b64encode(v.encode()).decode(), 76)),
    "URL-encoded": lambda v: quote(v, safe=""),
}


@pytest.mark.parametrize("how", ECHOES)
def test_a_multi_line_value_is_scrubbed_however_it_is_echoed(how: str) -> None:
    value = gcs_key()
    echoed = ECHOES[how](value.reveal())
    message = f'admission webhook "deny.example.com" denied the request: {echoed} (end)'
    for text in (short(message), scrub(message)):
        assert "<redacted sha256:" in text
        squeezed = "".join(text.split())
        for label, needle in seeds.needles():
            if label.startswith("gcs-"):
                assert needle not in text and "".join(needle.split()) not in squeezed, label


def test_library_logs_and_crashes_go_through_the_redaction(
        capsys: pytest.CaptureFixture[str]) -> None:
    """A library's stdlib log line and a thread's uncaught traceback both quote a
    value: what reaches stderr is JSON with the value redacted."""
    value = SecretValue(seeds.fake("stdlib-log"))
    logs.configure(level="info", json=True)
    try:
        logging.getLogger("urllib3.connectionpool").warning("retrying %s", value.reveal())
        logging.getLogger("apscheduler").info("below WARNING: not printed %s", value.reveal())

        def crash() -> None:
            raise RuntimeError(f"boom {value.reveal()}")

        thread = threading.Thread(target=crash)
        thread.start()
        thread.join()
        err = capsys.readouterr().err
    finally:
        logging.getLogger().handlers.clear()
        threading.excepthook = threading.__excepthook__
        sys.excepthook = sys.__excepthook__
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert [e["event"] for e in lines] == [f"retrying {value!r}", "uncaught_exception"]
    assert lines[0]["logger"] == "urllib3.connectionpool" and lines[0]["level"] == "warning"
    assert "RuntimeError: boom <redacted sha256:" in lines[1]["exception"]
    assert value.reveal() not in err
