"""One HTTP port: ``/metrics``, ``/healthz`` and ``/readyz``.

A small WSGI app served by the standard library's threaded WSGI server;
prometheus-client renders ``/metrics``. Liveness means the process and its
scheduler are alive; readiness means a config is loaded and the last cycle
finished recently (within three intervals), so a wedged syncer drops out.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

from syncer.metrics import Metrics

StartResponse = Callable[..., Any]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Probes every few seconds would flood the log; structlog covers what matters."""


class Health:
    """What the probes report; the daemon updates it."""

    def __init__(self, *, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.config_loaded = False
        self.scheduler_alive: Callable[[], bool] = lambda: True
        self.last_cycle: float | None = None
        self.started = clock()
        self._clock = clock

    def cycle_done(self) -> None:
        self.last_cycle = self._clock()

    def live(self) -> tuple[bool, str]:
        return (True, "ok") if self.scheduler_alive() else (False, "scheduler stopped")

    def ready(self) -> tuple[bool, str]:
        if not self.config_loaded:
            return False, "no valid config loaded"
        now = self._clock()
        budget = 3 * self.interval + 30
        if self.last_cycle is None:
            if now - self.started > budget:
                return False, "no cycle has finished yet"
            return False, "first cycle not finished yet"
        if now - self.last_cycle > budget:
            return False, f"last cycle finished {now - self.last_cycle:.0f}s ago"
        return True, "ok"


# (bearer token, credential names) -> (HTTP status, message)
Trigger = Callable[[str, list[str]], tuple[int, str]]
_REASONS = {202: "Accepted", 400: "Bad Request", 401: "Unauthorized",
            405: "Method Not Allowed"}


def app(metrics: Metrics, health: Health, trigger: Trigger | None = None
        ) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    metrics_app = make_wsgi_app(metrics.registry)

    def wsgi(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/trigger" and trigger is not None:
            return _trigger(environ, start_response, trigger)
        if path == "/metrics":
            return metrics_app(environ, start_response)  # type: ignore[no-any-return]
        probe = {"/healthz": health.live, "/readyz": health.ready}.get(path)
        if probe is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        ok, why = probe()
        start_response("200 OK" if ok else "503 Service Unavailable",
                       [("Content-Type", "text/plain")])
        return [why.encode() + b"\n"]

    return wsgi


def _trigger(environ: dict[str, Any], start_response: StartResponse, trigger: Trigger
             ) -> Iterable[bytes]:
    """POST /trigger[?only=name,name] with ``Authorization: Bearer <token>``."""
    if environ.get("REQUEST_METHOD") != "POST":
        status, message = 405, "use POST"
    else:
        auth = environ.get("HTTP_AUTHORIZATION", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        only = [n for n in parse_qs(environ.get("QUERY_STRING", "")).get("only", [""])[0]
                .split(",") if n]
        status, message = trigger(token, only) if token else (401, "unauthorized")
    start_response(f"{status} {_REASONS.get(status, '')}", [("Content-Type", "text/plain")])
    return [message.encode() + b"\n"]


def serve(host: str, port: int, metrics: Metrics, health: Health,
          trigger: Trigger | None = None) -> _Server:
    """Start serving in a daemon thread; return the server (``.server_port``, ``.shutdown()``)."""
    server = make_server(host, port, app(metrics, health, trigger), server_class=_Server,
                         handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server
