"""Cluster set-up for the benchmark: identities, namespaces, clean-up, checks.

Each actor gets its own ServiceAccount in ``kvs-bench`` (bound to one
ClusterRole) and a kubeconfig with a TokenRequest token, so the audit log
tells the syncer's requests from the floor's, the script's and the harness's
own (the harness uses the dev environment's admin token).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from devenv import servers

BENCH_NS = "kvs-bench"
ROLE = "kvs-bench"
ACTORS = ("syncer", "floor", "script")
T = TypeVar("T")


def admin_api(env: servers.Env, pool: int = 8) -> k8s.ApiClient:
    configuration = k8s.Configuration()
    k8s_config.load_kube_config(config_file=env.kubeconfig, client_configuration=configuration)
    configuration.connection_pool_maxsize = pool
    return k8s.ApiClient(configuration)


def username(actor: str) -> str:
    return f"system:serviceaccount:{BENCH_NS}:{actor}"


def _ignore_exists(fn: Callable[[], Any]) -> None:
    try:
        fn()
    except ApiException as exc:
        if exc.status != 409:
            raise


def identities(env: servers.Env, core: k8s.CoreV1Api, rbac: k8s.RbacAuthorizationV1Api,
               folder: Path) -> dict[str, str]:
    """Create the actors' ServiceAccounts and RBAC; return actor -> kubeconfig path."""
    _ignore_exists(lambda: core.create_namespace(
        {"metadata": {"name": BENCH_NS}}))
    _ignore_exists(lambda: rbac.create_cluster_role({
        "metadata": {"name": ROLE},
        "rules": [
            {"apiGroups": [""], "resources": ["secrets", "serviceaccounts"],
             "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
            {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]},
        ]}))
    out = {}
    for actor in ACTORS:
        _ignore_exists(lambda a=actor: core.create_namespaced_service_account(
            BENCH_NS, {"metadata": {"name": a}}))
        _ignore_exists(lambda a=actor: rbac.create_cluster_role_binding({
            "metadata": {"name": f"{ROLE}-{a}"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": ROLE},
            "subjects": [{"kind": "ServiceAccount", "name": a, "namespace": BENCH_NS}]}))
        token = core.create_namespaced_service_account_token(
            actor, BENCH_NS, {"spec": {"expirationSeconds": 6 * 3600}}).status.token
        path = folder / f"kubeconfig-{actor}"
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": actor,
            "clusters": [{"name": "kvs-dev", "cluster": {
                "server": env.apiserver_url, "certificate-authority": env.ca_cert}}],
            "users": [{"name": actor, "user": {"token": token}}],
            "contexts": [{"name": actor, "context": {"cluster": "kvs-dev", "user": actor}}],
        }, indent=1))
        os.chmod(path, 0o600)
        out[actor] = str(path)
    return out


def parallel(fn: Callable[[T], Any], items: Iterable[T], workers: int = 8) -> list[Any]:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, items))


def create_namespaces(core: k8s.CoreV1Api, names: Iterable[str]) -> None:
    parallel(lambda n: _ignore_exists(lambda: core.create_namespace(
        {"metadata": {"name": n, "labels": {"kvs-bench": "true"}}}, _preload_content=False)),
        list(names))


def delete_objects(core: k8s.CoreV1Api, namespaces: Iterable[str], selector: str) -> None:
    """Delete the labelled Secrets and ServiceAccounts (one deletecollection per kind and
    namespace): later sizes must not list earlier sizes' objects."""
    def clean(ns: str) -> None:
        core.delete_collection_namespaced_secret(ns, label_selector=selector,
                                                 _preload_content=False)
        core.delete_collection_namespaced_service_account(ns, label_selector=selector,
                                                          _preload_content=False)
    parallel(clean, list(namespaces))


def list_secrets(core: k8s.CoreV1Api, selector: str) -> list[dict[str, Any]]:
    """All Secrets matching ``selector``, as plain JSON (paginated)."""
    items: list[dict[str, Any]] = []
    token = None
    for _ in range(10_000):  # bounded: 500 per page
        resp = core.list_secret_for_all_namespaces(label_selector=selector, limit=500,
                                                   _continue=token, _preload_content=False)
        page = json.loads(resp.data)
        items.extend(page.get("items") or [])
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            break
    return items
