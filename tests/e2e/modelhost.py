"""A model file served over HTTP(S) on loopback to requests carrying one header.

The remote end of KServe's ``https-host`` + ``headers`` shape: kserve-storage
downloads ``http(s)://<host>/...`` URIs with the headers KServe put in env
``<host>-headers``. This server answers 401 to a request without the expected
header value, so a download proves the header KServe handed over is the one in
Vault. With ``tls`` it serves HTTPS and requires a client certificate signed by
the given CA (the HDFS shape's TLS_CERT/TLS_KEY/TLS_CA). It runs in a thread of
the test process and stops with the test.
"""

from __future__ import annotations

import hmac
import secrets
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

PATH = "/models/model.joblib"


class ModelHost:
    """``with ModelHost("Authorization", "Bearer x") as host: host.uri``"""

    def __init__(self, header: str, value: str, *, path: str = PATH,
                 tls: tuple[Path, Path, Path] | None = None) -> None:
        """``tls``: (server certificate, its key, the CA client certificates must have)."""
        self.header = header
        self.path = path
        self.value = value
        self.body = secrets.token_bytes(2048)
        self.statuses: list[int] = []
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                sent = self.headers.get(host.header) or ""
                ok = self.path == host.path and hmac.compare_digest(sent.encode(),
                                                                    host.value.encode())
                status = 200 if ok else (404 if self.path != host.path else 401)
                host.statuses.append(status)
                self.send_response(status)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(host.body) if ok else 0))
                self.end_headers()
                if ok:
                    self.wfile.write(host.body)

            def log_message(self, format: str, *args: object) -> None:
                return  # the request line is not interesting; statuses are recorded

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls[0], tls[1])
            context.load_verify_locations(tls[2])
            context.verify_mode = ssl.CERT_REQUIRED  # no client certificate, no handshake
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        # kserve-storage looks the headers up by the URI's host name: "localhost".
        return f"{self.scheme}://localhost:{self._server.server_address[1]}"

    @property
    def uri(self) -> str:
        return self.base + self.path

    def __enter__(self) -> ModelHost:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
