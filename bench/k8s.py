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
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Identity:
    """One actor's credentials: a kubeconfig, and the same token alone in a file
    (for the Go floor, which reads no kubeconfig). Both mode 0600."""

    kubeconfig: Path
    token_file: Path


def _private(path: Path, text: str) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return path


def admin_api(env: servers.Env, pool: int = 8) -> k8s.ApiClient:
    configuration = k8s.Configuration()
    k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=env.kubeconfig, client_configuration=configuration)
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
               folder: Path) -> dict[str, Identity]:
    """Create the actors' ServiceAccounts and RBAC; return actor -> its credentials."""
    meta = k8s.V1ObjectMeta
    _ignore_exists(lambda: core.create_namespace(k8s.V1Namespace(metadata=meta(name=BENCH_NS))))
    role = k8s.V1ClusterRole(
        metadata=meta(name=ROLE),
        rules=[
            k8s.V1PolicyRule(api_groups=[""], resources=["secrets", "serviceaccounts"],
                             verbs=["get", "list", "watch", "create", "update", "patch",
                                    "delete"]),
            k8s.V1PolicyRule(api_groups=[""], resources=["namespaces"],
                             verbs=["get", "list", "watch"]),
            # The Events the syncer posts, as the shipped manifests allow (counted).
            k8s.V1PolicyRule(api_groups=[""], resources=["events"],
                             verbs=["create", "patch"]),
        ])
    try:
        rbac.create_cluster_role(role)
    except ApiException as exc:
        if exc.status != 409:
            raise
        rbac.replace_cluster_role(ROLE, role)  # an older run's role, without events
    out = {}
    for actor in ACTORS:
        _ignore_exists(lambda a=actor: core.create_namespaced_service_account(  # type: ignore[misc]
            BENCH_NS, k8s.V1ServiceAccount(metadata=meta(name=a))))
        _ignore_exists(lambda a=actor: rbac.create_cluster_role_binding(  # type: ignore[misc]
            k8s.V1ClusterRoleBinding(
                metadata=meta(name=f"{ROLE}-{a}"),
                role_ref=k8s.V1RoleRef(api_group="rbac.authorization.k8s.io",
                                       kind="ClusterRole", name=ROLE),
                subjects=[k8s.RbacV1Subject(kind="ServiceAccount", name=a,
                                            namespace=BENCH_NS)])))
        status = core.create_namespaced_service_account_token(
            actor, BENCH_NS, k8s.AuthenticationV1TokenRequest(
                spec=k8s.V1TokenRequestSpec(audiences=[], expiration_seconds=6 * 3600))).status
        if status is None or not status.token:
            raise RuntimeError(f"TokenRequest for {actor}: no token in the response")
        token: str = status.token
        kubeconfig = _private(folder / f"kubeconfig-{actor}", json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": actor,
            "clusters": [{"name": "kvs-dev", "cluster": {
                "server": env.apiserver_url, "certificate-authority": env.ca_cert}}],
            "users": [{"name": actor, "user": {"token": token}}],
            "contexts": [{"name": actor, "context": {"cluster": "kvs-dev", "user": actor}}],
        }, indent=1))
        out[actor] = Identity(kubeconfig, _private(folder / f"token-{actor}", token))
    return out


def parallel(fn: Callable[[T], Any], items: Iterable[T], workers: int = 8) -> list[Any]:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, items))


def create_namespaces(core: k8s.CoreV1Api, names: Iterable[str]) -> None:
    parallel(lambda n: _ignore_exists(lambda: core.create_namespace(
        k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=n, labels={"kvs-bench": "true"})),
        _preload_content=False)), list(names))


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
        # Raw JSON (_preload_content=False): the response, not the typed list model.
        resp: Any = core.list_secret_for_all_namespaces(
            label_selector=selector, limit=500, _continue=token, _preload_content=False)
        page = json.loads(resp.data)
        items.extend(page.get("items") or [])
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            break
    return items
