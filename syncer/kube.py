"""The Kubernetes adapter: label-selected paginated lists, and the few writes.

The official client supplies configuration (kubeconfig, in-cluster token
refresh) and TLS; requests go through :mod:`syncer.transport` as plain JSON, so
a list of ten thousand Secrets is decoded once into the small Observed* records
the diff needs and never into full API models.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote, urlencode

import structlog

from syncer import observed, retry, transport
from syncer.errors import KubeError, KubeNotFound, kube_error, kube_error_from_response, short
from syncer.model import (
    DEFAULT_INSTANCE,
    SELECTOR,
    Namespace,
    ObservedSecret,
    ObservedServiceAccount,
    Ref,
)
from syncer.secretvalue import encode

log = structlog.get_logger(__name__)
PAGE_SIZE = 500
FIELD_MANAGER = "kserve-vault-sync"
USER_AGENT = "kserve-vault-sync"  # how audit logs and API priority rules tell us apart
# The REST paths of everything the syncer touches live here and nowhere else.
PLURALS = {"Secret": "secrets", "ServiceAccount": "serviceaccounts"}
WORKLOADS = {"Deployment": "/apis/apps/v1/namespaces/{ns}/deployments",
             "InferenceService": "/apis/serving.kserve.io/v1beta1/namespaces/{ns}/"
                                 "inferenceservices",
             # The storage version since KServe 0.17 (0.15/0.16 served v1alpha1 only).
             "LLMInferenceService": "/apis/serving.kserve.io/v1alpha2/namespaces/{ns}/"
                                    "llminferenceservices"}
LEASES = "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases"
CONFIG_MAPS = "/api/v1/namespaces/{ns}/configmaps"
EVENTS = "/api/v1/namespaces/{ns}/events"


def load_api_client(kubeconfig: str | None = None, *, pool_size: int = 8,
                    request_timeout: float = 30.0) -> transport.Transport:
    """The connection to the API server (credentials: in-cluster, then kubeconfig)."""
    return transport.load(kubeconfig, pool_size=pool_size, request_timeout=request_timeout)


class Kube:
    """Thin client over the few endpoints the syncer uses."""

    def __init__(self, api: transport.Transport, *, policy: retry.RetryPolicy = retry.DEFAULT,
                 dry_run: bool = False, instance: str = DEFAULT_INSTANCE,
                 user_agent: str = USER_AGENT) -> None:
        self._api = api
        self._user_agent = user_agent
        self._policy = policy
        self.dry_run = dry_run
        self.instance = instance  # sync.instance: objects of other installations are not ours

    def __repr__(self) -> str:
        return f"Kube(host={self._api.host!r}, dry_run={self.dry_run})"

    # -- transport ---------------------------------------------------------

    def _request(self, method: str, path: str, *, query: dict[str, str] | None = None,
                 body: Any = None, content_type: str = "application/json",
                 what: str = "") -> dict[str, Any]:
        def once() -> dict[str, Any]:
            headers = {"Accept": "application/json", "Content-Type": content_type,
                       "User-Agent": self._user_agent}
            params = dict(query or {})
            if self.dry_run and method != "GET":
                params["dryRun"] = "All"
            if method in ("POST", "PATCH", "PUT"):
                params["fieldManager"] = FIELD_MANAGER
            url = path + (f"?{urlencode(params)}" if params else "")
            resp = self._api.request(method, url, headers=headers,
                                     body=encode(body) if body is not None else None)
            raw = resp.data
            if resp.status >= 400:
                raise kube_error_from_response(resp.status, raw, resp.headers.get("Retry-After"),
                                               what or path)
            result: dict[str, Any] = json.loads(raw) if raw else {}
            return result
        return self._policy.call(what or f"{method} {path}", once)

    def _list(self, path: str, selector: str | None, seen: dict[str, str] | None = None
              ) -> Iterator[dict[str, Any]]:
        """Every item, page by page; ``seen["resourceVersion"]`` is the list's version
        (pages of one list share it: a watch from there misses nothing)."""
        query: dict[str, str] = {"limit": str(PAGE_SIZE)}
        if selector:
            query["labelSelector"] = selector
        while True:
            page = self._request("GET", path, query=query, what=f"list {path}")
            meta = page.get("metadata") or {}
            if seen is not None:
                seen["resourceVersion"] = str(meta.get("resourceVersion", ""))
            yield from page.get("items") or []
            token = meta.get("continue")
            if not token:
                return
            query["continue"] = token

    def list_managed(self, kind: str) -> tuple[dict[Ref, Any], str]:
        """All our objects of ``kind`` cluster-wide, and the version to watch from."""
        seen: dict[str, str] = {}
        convert = (observed.observed_secret if kind == "Secret"
                   else observed.observed_service_account)
        found = (convert(item, self.instance)
                 for item in self._list(f"/api/v1/{PLURALS[kind]}", SELECTOR, seen))
        items = {(o.namespace, o.name): o for o in found if o.managed}
        return items, seen.get("resourceVersion", "")

    def list_version(self, kind: str) -> str:
        """The current resourceVersion of our objects of ``kind`` (a watch starts there)."""
        plural = PLURALS[kind]
        # A one-item page is enough: the list's resourceVersion is what we need.
        page = self._request("GET", f"/api/v1/{plural}",
                             query={"limit": "1", "labelSelector": SELECTOR},
                             what=f"list {plural} for watch")
        return str((page.get("metadata") or {}).get("resourceVersion", ""))

    def watch(self, kind: str, resource_version: str, *, timeout: int = 240
              ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Stream (type, object) events for objects we manage, from ``resource_version``.

        Ends when the server closes the watch (``timeout``); raises KubeGone when
        the version is too old, so the caller lists again.
        """
        plural = PLURALS[kind]
        path = f"/api/v1/{plural}"
        query = {"watch": "1", "labelSelector": SELECTOR, "resourceVersion": resource_version,
                 "timeoutSeconds": str(timeout), "allowWatchBookmarks": "true"}
        headers = {"Accept": "application/json", "User-Agent": self._user_agent}
        stream = self._api.request("GET", f"{path}?{urlencode(query)}", headers=headers,
                                   stream=True, timeout=(10, timeout + 30))
        if stream.status >= 400:
            raise kube_error_from_response(stream.status, stream.read(), None, f"watch {plural}")
        try:
            for line in stream:
                if not line.strip():
                    continue
                event = json.loads(line)
                obj = event.get("object") or {}
                if event.get("type") == "ERROR":
                    raise kube_error(f"watch {plural}: {short(obj.get('message', ''))}",
                                     status=obj.get("code"), reason=obj.get("reason", ""))
                yield event.get("type", ""), obj
        except KubeError:
            raise
        except Exception as exc:  # noqa: BLE001 - urllib3 ProtocolError is no OSError
            raise KubeError(f"watch {plural}: stream broken ({type(exc).__name__})") from None
        finally:
            stream.release_conn()

    def list_workloads(self, kind: str, namespace: str) -> list[dict[str, Any]]:
        """Every Deployment or InferenceService in a namespace; [] if the kind is not served."""
        try:
            return list(self._list(WORKLOADS[kind].format(ns=quote(namespace, safe="")), None))
        except KubeNotFound:
            return []

    def patch_workload(self, kind: str, namespace: str, name: str, body: dict[str, Any]
                       ) -> None:
        path = WORKLOADS[kind].format(ns=quote(namespace, safe="")) + f"/{quote(name, safe='')}"
        self._request("PATCH", path, body=body, content_type="application/merge-patch+json",
                      what=f"roll {kind} {namespace}/{name}")

    # -- Events ---------------------------------------------------------------

    def create_event(self, namespace: str, body: dict[str, Any]) -> str:
        """Create an Event; returns its generated name (to count repeats on it)."""
        made = self._request("POST", EVENTS.format(ns=quote(namespace, safe="")), body=body,
                             what=f"create Event in {namespace}")
        return str((made.get("metadata") or {}).get("name", ""))

    def patch_event(self, namespace: str, name: str, body: dict[str, Any]) -> None:
        self._request("PATCH", EVENTS.format(ns=quote(namespace, safe="")) + f"/{name}",
                      body=body, content_type="application/merge-patch+json",
                      what=f"patch Event {namespace}/{name}")

    # -- the syncer's own state: Leases (leader election), a ConfigMap -------

    def get_config_map(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self._request("GET", CONFIG_MAPS.format(ns=namespace) + f"/{name}",
                                 what=f"get ConfigMap {namespace}/{name}")
        except KubeNotFound:
            return None

    def put_config_map(self, namespace: str, body: dict[str, Any]) -> None:
        """Replace the ConfigMap, creating it the first time."""
        name = body["metadata"]["name"]
        try:
            self._request("PUT", CONFIG_MAPS.format(ns=namespace) + f"/{name}", body=body,
                          what=f"update ConfigMap {namespace}/{name}")
        except KubeNotFound:
            self._request("POST", CONFIG_MAPS.format(ns=namespace), body=body,
                          what=f"create ConfigMap {namespace}/{name}")


    def get_state_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The syncer's own Secret (syncer.leasestore), with its data; None if absent."""
        return self._get("Secret", namespace, name)

    def put_state_secret(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        """Replace it as of ``metadata.resourceVersion`` (409 if it changed since), or
        create it when no version is given (409 if it appeared meanwhile)."""
        name = body["metadata"]["name"]
        if body["metadata"].get("resourceVersion"):
            return self._request("PUT", _path("secrets", namespace, name), body=body,
                                 what=f"update Secret {namespace}/{name}")
        return self._request("POST", _path("secrets", namespace), body=body,
                             what=f"create Secret {namespace}/{name}")

    def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self._request("GET", LEASES.format(ns=namespace) + f"/{name}",
                                 what=f"get Lease {name}")
        except KubeNotFound:
            return None

    def create_lease(self, namespace: str, body: dict[str, Any]) -> None:
        self._request("POST", LEASES.format(ns=namespace), body=body,
                      what=f"create Lease {body['metadata']['name']}")

    def replace_lease(self, namespace: str, name: str, body: dict[str, Any]) -> None:
        self._request("PUT", LEASES.format(ns=namespace) + f"/{name}", body=body,
                      what=f"update Lease {name}")

    # -- reads -------------------------------------------------------------

    def namespaces(self) -> dict[str, Namespace]:
        return {ns.name: ns for ns in map(observed.namespace,
                                          self._list("/api/v1/namespaces", None))}

    def _managed(self, plural: str, namespaces: Iterable[str] | None) -> Iterator[dict[str, Any]]:
        """One cluster-wide list, or (namespace-scoped RBAC) one list per namespace."""
        if namespaces is None:
            yield from self._list(f"/api/v1/{plural}", SELECTOR)
            return
        for ns in sorted(set(namespaces)):
            yield from self._list(_path(plural, ns), SELECTOR)

    def managed_secrets(self, namespaces: Iterable[str] | None = None
                        ) -> dict[Ref, ObservedSecret]:
        found = (observed.observed_secret(item, self.instance)
                 for item in self._managed("secrets", namespaces))
        return {(o.namespace, o.name): o for o in found if o.managed}

    def managed_service_accounts(self, namespaces: Iterable[str] | None = None
                                 ) -> dict[Ref, ObservedServiceAccount]:
        found = (observed.observed_service_account(item, self.instance)
                 for item in self._managed("serviceaccounts", namespaces))
        return {(o.namespace, o.name): o for o in found if o.managed}

    def _get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self._request("GET", _path(PLURALS[kind], namespace, name),
                                 what=f"get {kind} {namespace}/{name}")
        except KubeNotFound:
            return None

    def get_secret(self, namespace: str, name: str) -> ObservedSecret | None:
        item = self._get("Secret", namespace, name)
        return observed.observed_secret(item, self.instance) if item is not None else None

    def get_service_account(self, namespace: str, name: str) -> ObservedServiceAccount | None:
        item = self._get("ServiceAccount", namespace, name)
        return (observed.observed_service_account(item, self.instance) if item is not None
                else None)

    # -- writes ------------------------------------------------------------

    def create(self, kind: str, namespace: str, body: dict[str, Any]) -> str:
        """Create; returns the new object's uid (events name it)."""
        made = self._request("POST", _path(PLURALS[kind], namespace), body=body,
                             what=f"create {kind} {namespace}/{body['metadata']['name']}")
        return str((made.get("metadata") or {}).get("uid", ""))

    def patch(self, kind: str, namespace: str, name: str, body: dict[str, Any]) -> str:
        """Patch; returns the object's uid. Secrets: JSON merge patch (keys we do not
        send stay untouched). ServiceAccounts: strategic merge (``secrets`` by name)."""
        content_type = ("application/strategic-merge-patch+json" if kind == "ServiceAccount"
                        else "application/merge-patch+json")
        patched = self._request("PATCH", _path(PLURALS[kind], namespace, name), body=body,
                                content_type=content_type,
                                what=f"patch {kind} {namespace}/{name}")
        # The response echoes the whole object (a Secret's data too): keep only the uid.
        return str((patched.get("metadata") or {}).get("uid", ""))

    def delete(self, kind: str, namespace: str, name: str) -> None:
        """Delete; an object already gone is what we wanted."""
        with contextlib.suppress(KubeNotFound):
            self._request("DELETE", _path(PLURALS[kind], namespace, name),
                          what=f"delete {kind} {namespace}/{name}")


def _path(plural: str, namespace: str, name: str | None = None) -> str:
    base = f"/api/v1/namespaces/{quote(namespace, safe='')}/{plural}"
    return base + (f"/{quote(name, safe='')}" if name else "")
