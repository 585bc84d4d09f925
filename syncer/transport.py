"""HTTP to the API server: the official client's configuration, urllib3's pool.

The kubernetes client loads credentials (kubeconfig, in-cluster token and its
refresh, client certificates, the CA) and is kept for that. Requests go
straight to a urllib3 pool: the client's ``call_api`` costs more per request
than the rest of a write together (measured by bench/: building the auth
header re-runs the refresh hook, which re-parses proxies from the
environment), and a sync at 10,000 targets is 20,000 requests. The auth
header is built once and refreshed once a minute, which follows a rotating
projected ServiceAccount token (the kubelet rotates it hourly) well in time.
"""

from __future__ import annotations

import json
import os
import ssl
import threading
import time
from typing import Any

import urllib3
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from syncer.errors import KubeError, short

AUTH_REFRESH = 60.0  # seconds between rebuilding the Authorization header


class Transport:
    """A pool of connections to one API server, with its credentials."""

    def __init__(self, configuration: k8s.Configuration, *, pool_size: int = 8,
                 timeout: float = 30.0) -> None:
        self.host = configuration.host.rstrip("/")
        self.timeout = timeout
        self._configuration = configuration
        self._lock = threading.Lock()
        self._auth: str | None = None
        self._auth_at = -AUTH_REFRESH
        tls: dict[str, Any] = {}
        if self.host.startswith("https://"):
            tls = {"cert_reqs": ssl.CERT_REQUIRED if configuration.verify_ssl
                   else ssl.CERT_NONE,
                   "ca_certs": configuration.ssl_ca_cert,
                   "cert_file": configuration.cert_file, "key_file": configuration.key_file}
            if configuration.assert_hostname is not None:
                tls["assert_hostname"] = configuration.assert_hostname
            if configuration.tls_server_name:
                tls["server_hostname"] = configuration.tls_server_name
        common = {"num_pools": 2, "maxsize": pool_size, "block": True, "retries": False, **tls}
        # Retries live in syncer.retry, nowhere else; block=True: at most pool_size
        # connections, the rest wait for one (writes are bounded by concurrency anyway).
        self._pool: urllib3.PoolManager = (
            urllib3.ProxyManager(configuration.proxy, **common) if configuration.proxy
            else urllib3.PoolManager(**common))

    def __repr__(self) -> str:
        return f"Transport(host={self.host!r})"

    def authorization(self) -> str | None:
        """The Authorization header, rebuilt at most once a minute."""
        with self._lock:
            now = time.monotonic()
            if now - self._auth_at >= AUTH_REFRESH:
                hook = self._configuration.refresh_api_key_hook
                if hook is not None:
                    hook(self._configuration)  # re-reads a rotated in-cluster token
                # Where the client keeps a bearer token (as its own auth_settings reads it).
                self._auth = self._configuration.get_api_key_with_prefix(
                    "BearerToken", alias="authorization")
                self._auth_at = now
            return self._auth

    def request(self, method: str, path: str, *, body: Any = None,
                headers: dict[str, str], stream: bool = False,
                timeout: float | tuple[float, float] | None = None
                ) -> urllib3.BaseHTTPResponse:
        """Send one request; raise KubeError (no status: transient) if it never got an
        answer. ``path`` includes the query."""
        auth = self.authorization()
        if auth:
            headers = {**headers, "Authorization": auth}
        wait = timeout if timeout is not None else self.timeout
        limits = (urllib3.Timeout(connect=wait[0], read=wait[1]) if isinstance(wait, tuple)
                  else urllib3.Timeout(total=wait))
        try:
            return self._pool.request(
                method, self.host + path, headers=headers,
                body=json.dumps(body, separators=(",", ":")).encode()
                if body is not None else None,
                preload_content=not stream, timeout=limits)
        except urllib3.exceptions.HTTPError as exc:
            # The server is unreachable, or the connection broke: transient.
            raise KubeError(f"{method} {path.split('?', 1)[0]}: API server unreachable "
                            f"({type(exc).__name__})") from None


def load(kubeconfig: str | None = None, *, pool_size: int = 8,
         request_timeout: float = 30.0) -> Transport:
    """In-cluster first, then KUBECONFIG / ~/.kube/config (or the given file).

    Raises KubeError saying what to do when none can be loaded."""
    configuration = k8s.Configuration()
    try:
        if kubeconfig:
            k8s_config.load_kube_config(config_file=kubeconfig,
                                        client_configuration=configuration)
        else:
            try:
                k8s_config.load_incluster_config(client_configuration=configuration)
            except k8s_config.ConfigException:
                k8s_config.load_kube_config(client_configuration=configuration)
    except (k8s_config.ConfigException, OSError, ValueError, yaml.YAMLError) as exc:
        where = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
        raise KubeError(f"no usable Kubernetes credentials: not in a pod, and {where} "
                        f"could not be loaded ({short(exc)}); pass --kubeconfig or set "
                        "KUBECONFIG") from None
    return Transport(configuration, pool_size=pool_size, timeout=request_timeout)
