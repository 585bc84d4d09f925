"""A model file served over HTTP on loopback to requests carrying one header.

The remote end of KServe's ``https-host`` + ``headers`` shape: kserve-storage
downloads ``http(s)://<host>/...`` URIs with the headers KServe put in env
``<host>-headers``. This server answers 401 to a request without the expected
header value, so a download proves the header KServe handed over is the one in
Vault. It runs in a thread of the test process and stops with the test.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

PATH = "/models/model.joblib"


class ModelHost:
    """``with ModelHost("Authorization", "Bearer x") as host: host.uri``"""

    def __init__(self, header: str, value: str) -> None:
        self.header = header
        self.value = value
        self.body = secrets.token_bytes(2048)
        self.statuses: list[int] = []
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                sent = self.headers.get(host.header) or ""
                ok = self.path == PATH and hmac.compare_digest(sent.encode(),
                                                               host.value.encode())
                status = 200 if ok else (404 if self.path != PATH else 401)
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
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def uri(self) -> str:
        # kserve-storage looks the headers up by the URI's host name: "localhost".
        return f"http://localhost:{self._server.server_address[1]}{PATH}"

    def __enter__(self) -> ModelHost:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
