"""Liveness and readiness (syncer/health.py) and the HTTP app that serves them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from syncer import health
from syncer.metrics import Metrics
from syncer.triggers import Reply


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# (config loaded, seconds since start, seconds since the last cycle or None) -> ready?, why
READY: list[tuple[bool, float, float | None, bool, str]] = [
    (False, 5, None, False, "no valid config loaded"),
    (True, 5, None, False, "first cycle not finished yet"),
    (True, 209, None, False, "first cycle not finished yet"),  # budget: 3 x 60 s + 30 s
    (True, 300, None, False, "no cycle has finished yet"),
    (True, 300, 10, True, "ok"),
    (True, 300, 209, True, "ok"),
    (True, 500, 211, False, "last cycle finished 211s ago"),
]


@pytest.mark.parametrize(("loaded", "since_start", "since_cycle", "ok", "why"), READY)
def test_ready(loaded: bool, since_start: float, since_cycle: float | None, ok: bool,
               why: str) -> None:
    clock = Clock()
    h = health.Health(interval=60, clock=clock)
    h.config_loaded = loaded
    if since_cycle is not None:
        clock.now = since_start - since_cycle
        h.cycle_done()
    clock.now = since_start
    assert h.ready() == (ok, why)


def test_live_needs_every_check() -> None:
    h = health.Health(interval=60)
    assert h.live() == (True, "ok")
    state = {"scheduler": True, "repair worker": True}
    h.liveness["scheduler"] = lambda: state["scheduler"]
    h.liveness["repair worker"] = lambda: state["repair worker"]
    assert h.live() == (True, "ok")
    state["repair worker"] = False
    assert h.live() == (False, "repair worker stopped")
    state["scheduler"] = False
    assert h.live() == (False, "repair worker, scheduler stopped")


def call(app: Callable[..., Any], path: str, method: str = "GET", auth: str = "",
         query: str = "") -> tuple[str, bytes]:
    status, body, _ = call_with_headers(app, path, method, auth, query)
    return status, body


def call_with_headers(app: Callable[..., Any], path: str, method: str = "GET", auth: str = "",
                      query: str = "") -> tuple[str, bytes, dict[str, str]]:
    got: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        got.update(status=status, headers=dict(headers))

    environ = {"PATH_INFO": path, "REQUEST_METHOD": method, "QUERY_STRING": query,
               "HTTP_AUTHORIZATION": auth, "wsgi.input": None}
    body = b"".join(app(environ, start_response))
    return got["status"], body, got["headers"]


def test_app_routes() -> None:
    h = health.Health(interval=60)
    calls: list[tuple[str, list[str]]] = []

    def trigger(token: str, only: list[str]) -> Reply:
        calls.append((token, only))
        if only == ["standby"]:
            return Reply(503, "not the leader", retry_after=2.4)
        return Reply(202, "cycle scheduled")

    app = health.app(Metrics(), h, trigger)
    assert call(app, "/healthz") == ("200 OK", b"ok\n")
    assert call(app, "/readyz")[0] == "503 Service Unavailable"
    assert call(app, "/nope")[0] == "404 Not Found"
    status, body = call(app, "/metrics")
    assert status.startswith("200") and b"kserve_vault_sync_sync_runs_total" in body
    assert call(app, "/trigger")[0] == "405 Method Not Allowed"
    assert call(app, "/trigger", "POST")[0] == "401 Unauthorized"  # no bearer token
    assert call(app, "/trigger", "POST", "Bearer t", "only=a,b")[0] == "202 Accepted"
    status, _, headers = call_with_headers(app, "/trigger", "POST", "Bearer t", "only=standby")
    assert status == "503 Service Unavailable" and headers["Retry-After"] == "2"
    assert calls == [("t", ["a", "b"]), ("t", ["standby"])]
    assert call(health.app(Metrics(), h), "/trigger", "POST", "Bearer t")[0] == \
        "404 Not Found"  # not enabled
