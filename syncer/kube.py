"""The Kubernetes adapter: label-selected paginated lists, and the few writes.

The official client supplies configuration (kubeconfig, in-cluster token
refresh), TLS and the connection pool; requests go through its REST layer as
plain JSON, so a list of ten thousand Secrets is decoded once into the small
Observed* records the diff needs and never into full API models.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote, urlencode

import structlog
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from syncer import retry
from syncer.errors import KubeError, short
from syncer.model import (
    GROUP,
    KSERVE_PREFIX,
    MANAGED_BY_LABEL,
    SELECTOR,
    ObservedSecret,
    ObservedServiceAccount,
    Ref,
)
from syncer.render import Namespace
from syncer.secretvalue import SecretValue, digest

log = structlog.get_logger(__name__)
PAGE_SIZE = 500
FIELD_MANAGER = "kserve-vault-sync"


def load_api_client(kubeconfig: str | None = None, *, pool_size: int = 8,
                    request_timeout: float = 30.0) -> k8s.ApiClient:
    """In-cluster first, then KUBECONFIG / ~/.kube/config (or the given file)."""
    configuration = k8s.Configuration()
    if kubeconfig:
        k8s_config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    else:
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)
        except k8s_config.ConfigException:
            k8s_config.load_kube_config(client_configuration=configuration)
    configuration.connection_pool_maxsize = pool_size
    configuration.retries = 0  # retries live in syncer.retry, nowhere else
    api = k8s.ApiClient(configuration)
    api.user_agent = "kserve-vault-sync"
    api.kvs_timeout = request_timeout  # type: ignore[attr-defined]
    return api


def observed_secret(item: dict[str, Any]) -> ObservedSecret:
    meta = item.get("metadata") or {}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items()
                   if k.startswith((GROUP + "/", KSERVE_PREFIX))}
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k == MANAGED_BY_LABEL}
    # Keep a digest per key and drop the value here: nothing downstream holds it.
    digests = {k: digest(base64.b64decode(v)) for k, v in (item.get("data") or {}).items()}
    return ObservedSecret(meta.get("namespace", ""), meta.get("name", ""), meta.get("uid", ""),
                          meta.get("resourceVersion", ""), item.get("type") or "Opaque",
                          labels, annotations, digests)


def observed_service_account(item: dict[str, Any]) -> ObservedServiceAccount:
    meta = item.get("metadata") or {}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items()
                   if k.startswith(GROUP + "/")}
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k == MANAGED_BY_LABEL}
    secrets = tuple(s.get("name", "") for s in item.get("secrets") or [])
    return ObservedServiceAccount(meta.get("namespace", ""), meta.get("name", ""),
                                  meta.get("uid", ""), meta.get("resourceVersion", ""),
                                  labels, annotations, secrets)


def encode(body: Any) -> Any:
    """Turn SecretValue leaves into base64 strings - the one place values are revealed."""
    if isinstance(body, SecretValue):
        return base64.b64encode(body.reveal().encode()).decode()
    if isinstance(body, dict):
        return {k: encode(v) for k, v in body.items()}
    if isinstance(body, list):
        return [encode(v) for v in body]
    return body


class Kube:
    """Thin client over the few endpoints the syncer uses."""

    def __init__(self, api: k8s.ApiClient, *, policy: retry.RetryPolicy = retry.DEFAULT,
                 dry_run: bool = False) -> None:
        self._api = api
        self._policy = policy
        self.dry_run = dry_run
        self.requests = 0  # for tests and the benchmark
        self.list_versions: dict[str, str] = {}  # path -> resourceVersion of the last list

    def __repr__(self) -> str:
        return f"Kube(host={self._api.configuration.host!r}, dry_run={self.dry_run})"

    # -- transport ---------------------------------------------------------

    def _request(self, method: str, path: str, *, query: dict[str, str] | None = None,
                 body: Any = None, content_type: str = "application/json",
                 what: str = "") -> dict[str, Any]:
        def once() -> dict[str, Any]:
            headers = {"Accept": "application/json", "Content-Type": content_type}
            params = dict(query or {})
            if self.dry_run and method != "GET":
                params["dryRun"] = "All"
            if method in ("POST", "PATCH", "PUT"):
                params["fieldManager"] = FIELD_MANAGER
            url = self._api.configuration.host + path + (f"?{urlencode(params)}" if params
                                                         else "")
            self._api.update_params_for_auth(headers, [], ["BearerToken"], path, method, body)
            self.requests += 1
            try:
                resp = self._api.call_api(method, url, header_params=headers,
                                          body=encode(body) if body is not None else None,
                                          _request_timeout=getattr(self._api, "kvs_timeout",
                                                                   30.0))
                raw = resp.read()
            except Exception as exc:  # noqa: BLE001
                # urllib3 / socket errors: the server is unreachable. Transient.
                raise KubeError(f"{what or path}: API server unreachable "
                                f"({type(exc).__name__})") from None
            if resp.status >= 400:
                raise _error(resp.status, raw, resp.getheader("Retry-After"), what or path)
            result: dict[str, Any] = json.loads(raw) if raw else {}
            return result
        return self._policy.call(what or f"{method} {path}", once)

    def _list(self, path: str, selector: str | None) -> Iterator[dict[str, Any]]:
        query: dict[str, str] = {"limit": str(PAGE_SIZE)}
        if selector:
            query["labelSelector"] = selector
        while True:
            page = self._request("GET", path, query=query, what=f"list {path}")
            self.list_versions[path] = (page.get("metadata") or {}).get("resourceVersion", "")
            yield from page.get("items") or []
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return
            query["continue"] = token

    def watch(self, plural: str, resource_version: str, *, timeout: int = 240
              ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Stream (type, object) events for objects we manage, from ``resource_version``.

        Ends when the server closes the watch (``timeout``); raises KubeError with
        status 410 when the version is too old, so the caller lists again.
        """
        path = f"/api/v1/{plural}"
        query = {"watch": "1", "labelSelector": SELECTOR, "resourceVersion": resource_version,
                 "timeoutSeconds": str(timeout), "allowWatchBookmarks": "true"}
        headers = {"Accept": "application/json"}
        self._api.update_params_for_auth(headers, [], ["BearerToken"], path, "GET", None)
        self.requests += 1
        try:
            resp = self._api.call_api("GET", f"{self._api.configuration.host}{path}?"
                                      f"{urlencode(query)}", header_params=headers,
                                      _request_timeout=(10, timeout + 30))
        except Exception as exc:  # noqa: BLE001 - unreachable, as in _request
            raise KubeError(f"watch {plural}: API server unreachable "
                            f"({type(exc).__name__})") from None
        if resp.status >= 400:
            raise _error(resp.status, resp.read(), None, f"watch {plural}")
        stream = resp.response
        try:
            for line in stream:
                if not line.strip():
                    continue
                event = json.loads(line)
                obj = event.get("object") or {}
                if event.get("type") == "ERROR":
                    raise KubeError(f"watch {plural}: {short(obj.get('message', ''))}",
                                    status=obj.get("code"), reason=obj.get("reason", ""))
                yield event.get("type", ""), obj
        except KubeError:
            raise
        except Exception as exc:  # noqa: BLE001 - urllib3 ProtocolError is no OSError
            raise KubeError(f"watch {plural}: stream broken ({type(exc).__name__})") from None
        finally:
            stream.release_conn()

    def list_items(self, path: str) -> list[dict[str, Any]]:
        """Every object at a collection path (paginated); [] if the kind is not served."""
        try:
            return list(self._list(path, None))
        except KubeError as exc:
            if exc.status == 404:
                return []
            raise

    def merge_patch(self, path: str, body: dict[str, Any], what: str) -> None:
        self._request("PATCH", path, body=body, content_type="application/merge-patch+json",
                      what=what)

    def request(self, method: str, path: str, *, body: Any = None, what: str = ""
                ) -> dict[str, Any]:
        """Any other JSON request (Leases); retried like the rest."""
        return self._request(method, path, body=body, what=what)

    # -- reads -------------------------------------------------------------

    def namespaces(self) -> dict[str, Namespace]:
        out = {}
        for item in self._list("/api/v1/namespaces", None):
            meta = item.get("metadata") or {}
            out[meta["name"]] = Namespace(
                meta["name"], meta.get("labels") or {},
                terminating=(item.get("status") or {}).get("phase") == "Terminating"
                or bool(meta.get("deletionTimestamp")))
        return out

    def _managed(self, plural: str, namespaces: Iterable[str] | None) -> Iterator[dict[str, Any]]:
        """One cluster-wide list, or (namespace-scoped RBAC) one list per namespace."""
        if namespaces is None:
            yield from self._list(f"/api/v1/{plural}", SELECTOR)
            return
        for ns in sorted(set(namespaces)):
            yield from self._list(_path(plural, ns), SELECTOR)

    def managed_secrets(self, namespaces: Iterable[str] | None = None
                        ) -> dict[Ref, ObservedSecret]:
        return {(o.namespace, o.name): o
                for o in map(observed_secret, self._managed("secrets", namespaces))}

    def managed_service_accounts(self, namespaces: Iterable[str] | None = None
                                 ) -> dict[Ref, ObservedServiceAccount]:
        return {(o.namespace, o.name): o for o in map(
            observed_service_account, self._managed("serviceaccounts", namespaces))}

    def get_secret(self, namespace: str, name: str) -> ObservedSecret | None:
        try:
            return observed_secret(self._request("GET", _path("secrets", namespace, name),
                                                  what=f"get Secret {namespace}/{name}"))
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise

    def get_service_account(self, namespace: str, name: str) -> ObservedServiceAccount | None:
        try:
            item = self._request("GET", _path("serviceaccounts", namespace, name),
                                 what=f"get ServiceAccount {namespace}/{name}")
            return observed_service_account(item)
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise

    # -- writes ------------------------------------------------------------

    def create(self, kind: str, namespace: str, body: dict[str, Any]) -> None:
        self._request("POST", _path(_plural(kind), namespace), body=body,
                      what=f"create {kind} {namespace}/{body['metadata']['name']}")

    def patch(self, kind: str, namespace: str, name: str, body: dict[str, Any]) -> None:
        # Secrets: JSON merge patch (keys we do not send stay untouched).
        # ServiceAccounts: strategic merge, so `secrets` entries merge by name.
        content_type = ("application/strategic-merge-patch+json" if kind == "ServiceAccount"
                        else "application/merge-patch+json")
        self._request("PATCH", _path(_plural(kind), namespace, name), body=body,
                      content_type=content_type, what=f"patch {kind} {namespace}/{name}")

    def delete(self, kind: str, namespace: str, name: str) -> None:
        try:
            self._request("DELETE", _path(_plural(kind), namespace, name),
                          what=f"delete {kind} {namespace}/{name}")
        except KubeError as exc:
            if exc.status != 404:
                raise


def _plural(kind: str) -> str:
    return {"Secret": "secrets", "ServiceAccount": "serviceaccounts"}[kind]


def _path(plural: str, namespace: str, name: str | None = None) -> str:
    base = f"/api/v1/namespaces/{quote(namespace, safe='')}/{plural}"
    return base + (f"/{quote(name, safe='')}" if name else "")


def _error(status: int, raw: bytes, retry_after: str | None, what: str) -> KubeError:
    reason, message = "", ""
    try:
        payload = json.loads(raw)
        reason, message = payload.get("reason", ""), payload.get("message", "")
    except ValueError:
        message = raw.decode(errors="replace")
    try:
        wait = float(retry_after) if retry_after else None
    except ValueError:
        wait = None
    return KubeError(f"{what}: HTTP {status} {reason} ({short(message)})", status=status,
                     reason=reason, retry_after=wait)
