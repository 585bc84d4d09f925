"""One HTTP port: ``/metrics``, ``/healthz``, ``/readyz`` and ``POST /trigger``.

A small WSGI app served by the standard library's threaded WSGI server;
prometheus-client renders ``/metrics``. Liveness means the process, its
scheduler and its repair worker are alive; readiness means a config is loaded
and the last cycle finished recently (within three intervals), so a wedged
syncer drops out.

The port faces the cluster network, so it is bounded: a request that does not
arrive within ``REQUEST_TIMEOUT`` is dropped, at most ``MAX_CONNECTIONS`` are
served at once (more are closed at once, not queued on threads), and it listens
on IPv4 and IPv6 where the host has both.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

from syncer.metrics import Metrics
from syncer.triggers import Reply

StartResponse = Callable[..., Any]
REQUEST_TIMEOUT = 10.0  # seconds to send a request (and to read each answer)
MAX_CONNECTIONS = 32


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            self.shutdown_request(request)  # full: refuse now rather than pile up threads
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


class _DualStackServer(_Server):
    address_family = socket.AF_INET6

    def server_bind(self) -> None:
        # Accept IPv4 too (as ::ffff:a.b.c.d) on the one socket.
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


class _IPv6Server(_Server):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    timeout = REQUEST_TIMEOUT

    def log_message(self, format: str, *args: Any) -> None:
        """Probes every few seconds would flood the log; structlog covers what matters."""


class Health:
    """What the probes report; the daemon updates it."""

    def __init__(self, *, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.config_loaded = False
        # name -> check; every one must hold for liveness (scheduler, repair worker).
        self.liveness: dict[str, Callable[[], bool]] = {}
        self.last_cycle: float | None = None
        self.started = clock()
        self._clock = clock

    def cycle_done(self) -> None:
        self.last_cycle = self._clock()

    def live(self) -> tuple[bool, str]:
        dead = sorted(name for name, check in self.liveness.items() if not check())
        return (False, f"{', '.join(dead)} stopped") if dead else (True, "ok")

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


# (bearer token, credential names) -> the answer
Trigger = Callable[[str, list[str]], Reply]
_REASONS = {202: "Accepted", 400: "Bad Request", 401: "Unauthorized",
            405: "Method Not Allowed", 503: "Service Unavailable"}


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
        reply = Reply(405, "use POST")
    else:
        auth = environ.get("HTTP_AUTHORIZATION", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        only = [n for n in parse_qs(environ.get("QUERY_STRING", "")).get("only", [""])[0]
                .split(",") if n]
        reply = trigger(token, only) if token else Reply(401, "unauthorized")
    headers = [("Content-Type", "text/plain")]
    if reply.retry_after is not None:
        headers.append(("Retry-After", str(max(1, round(reply.retry_after)))))
    start_response(f"{reply.status} {_REASONS.get(reply.status, '')}", headers)
    return [reply.message.encode() + b"\n"]


def serve(host: str, port: int, metrics: Metrics, health: Health,
          trigger: Trigger | None = None) -> _Server:
    """Start serving in a daemon thread; return the server (``.server_port``, ``.shutdown()``).

    ``host`` "" (or "::") listens on every address, IPv6 and IPv4 where the host
    has both; an IPv6 literal listens on IPv6, anything else on IPv4."""
    server_class: type[_Server] = _Server
    if host in ("", "::") and socket.has_dualstack_ipv6():
        host, server_class = "::", _DualStackServer
    elif ":" in host:
        server_class = _IPv6Server
    elif not host:
        host = "0.0.0.0"  # noqa: S104 - a pod serves its probes on every address
    server = make_server(host, port, app(metrics, health, trigger), server_class=server_class,
                         handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server
