"""Drive the KServe dev environment as a user would, and read what KServe made.

InferenceServices are created through the API server (KServe's defaulting and
validating webhooks run); KServe's controller makes the Deployment,
kube-controller-manager its ReplicaSet and Pod, and KServe's pod webhook
injects the storage initializer. Every wait here is a bounded poll.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

from kubernetes import client as k8s
from urllib3 import HTTPResponse

from devenv import servers

GROUP, VERSION = "serving.kserve.io", "v1beta1"
ISVC_LABEL = "serving.kserve.io/inferenceservice"
INIT = "storage-initializer"
WAIT = 120.0
T = TypeVar("T")


def unparsed(response: object) -> HTTPResponse:
    """A call's return with ``_preload_content=False``: the client then returns the
    urllib3 response unread, though its annotations name the model it parses otherwise."""
    return cast(HTTPResponse, response)


class NotYet(Exception):
    """A bounded wait's condition does not hold yet."""


def wait_for(what: str, check: Callable[[], T], timeout: float = WAIT) -> T:
    """Call ``check`` until it returns without raising NotYet; bounded by ``timeout``."""
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        try:
            return check()
        except NotYet as exc:
            last = str(exc)
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {timeout:.0f}s ({last})")
        time.sleep(0.5)


class KServeCluster:
    """Thin helpers over the kubernetes client for one dev environment."""

    def __init__(self, api: k8s.ApiClient, env: servers.Env) -> None:
        self.env = env
        self.core = k8s.CoreV1Api(api)
        self.apps = k8s.AppsV1Api(api)
        self.custom = k8s.CustomObjectsApi(api)

    # -- InferenceServices ---------------------------------------------------

    def create_isvc(self, namespace: str, name: str, predictor: dict[str, Any]) -> None:
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "InferenceService",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"predictor": predictor}}
        self.custom.create_namespaced_custom_object(GROUP, VERSION, namespace,
                                                    "inferenceservices", body)

    def isvc(self, namespace: str, name: str) -> dict[str, Any]:
        # Custom objects come back as parsed JSON; the client annotates them as object.
        return cast(dict[str, Any], self.custom.get_namespaced_custom_object(
            GROUP, VERSION, namespace, "inferenceservices", name))

    # -- what KServe and kube-controller-manager made -------------------------

    def pods(self, namespace: str, isvc: str) -> list[dict[str, Any]]:
        """The ISVC's Pods as the API server stores them (camelCase), oldest first."""
        raw = unparsed(self.core.list_namespaced_pod(
            namespace, label_selector=f"{ISVC_LABEL}={isvc}", _preload_content=False))
        items: list[dict[str, Any]] = json.loads(raw.data)["items"]
        return sorted(items, key=lambda p: (p["metadata"]["creationTimestamp"],
                                            p["metadata"]["name"]))

    def wait_pod(self, namespace: str, isvc: str, *, not_in: frozenset[str] = frozenset()
                 ) -> dict[str, Any]:
        """The newest Pod of the ISVC whose name is not in ``not_in``."""
        def check() -> dict[str, Any]:
            fresh = [p for p in self.pods(namespace, isvc)
                     if p["metadata"]["name"] not in not_in]
            if not fresh:
                raise NotYet(f"no new Pod for {namespace}/{isvc}; "
                             f"ISVC status: {self._isvc_conditions(namespace, isvc)}")
            return fresh[-1]
        return wait_for(f"a Pod of InferenceService {namespace}/{isvc}", check)

    def _isvc_conditions(self, namespace: str, isvc: str) -> str:
        try:
            status = self.isvc(namespace, isvc).get("status") or {}
        except k8s.ApiException as exc:
            return f"unreadable ({exc.status})"
        return "; ".join(f"{c.get('type')}={c.get('status')} {c.get('message', '')}"
                         for c in status.get("conditions") or []) or "(none)"

    def deployment(self, namespace: str, isvc: str) -> dict[str, Any]:
        raw = unparsed(self.apps.list_namespaced_deployment(
            namespace, label_selector=f"{ISVC_LABEL}={isvc}", _preload_content=False))
        items: list[dict[str, Any]] = json.loads(raw.data)["items"]
        if len(items) != 1:
            raise NotYet(f"{len(items)} Deployments for {namespace}/{isvc}")
        return items[0]

    def _replica_sets(self, namespace: str, isvc: str) -> list[dict[str, Any]]:
        raw = unparsed(self.apps.list_namespaced_replica_set(
            namespace, label_selector=f"{ISVC_LABEL}={isvc}", _preload_content=False))
        items: list[dict[str, Any]] = json.loads(raw.data)["items"]
        return items

    def replica_sets(self, namespace: str, isvc: str) -> list[str]:
        return sorted(r["metadata"]["name"] for r in self._replica_sets(namespace, isvc))

    def settled(self, namespace: str, isvc: str) -> dict[str, Any]:
        """Wait until KServe has carried the ISVC's predictor annotations into the
        Deployment's pod template, the deployment controller has observed the
        Deployment and the ReplicaSet controller made each ReplicaSet's Pods;
        return the Deployment then. (KServe's status.observedGeneration is not
        the ISVC's generation, so it cannot tell.)"""
        def check() -> dict[str, Any]:
            wanted = (self.isvc(namespace, isvc)["spec"]["predictor"].get("annotations")
                      or {})
            dep = self.deployment(namespace, isvc)
            template = dep["spec"]["template"]["metadata"].get("annotations") or {}
            if any(template.get(k) != v for k, v in wanted.items()):
                raise NotYet("KServe has not yet updated the Deployment")
            if (dep.get("status") or {}).get("observedGeneration") != \
                    dep["metadata"]["generation"]:
                raise NotYet("Deployment not yet observed")
            for rs in self._replica_sets(namespace, isvc):
                status = rs.get("status") or {}
                if (status.get("observedGeneration") != rs["metadata"]["generation"]
                        or status.get("replicas", 0) != rs["spec"].get("replicas", 0)):
                    raise NotYet(f"ReplicaSet {rs['metadata']['name']} not yet at its size")
            return dep
        return wait_for(f"{namespace}/{isvc} reconciled", check)

    def storage_initializer(self, pod: dict[str, Any]) -> dict[str, Any]:
        found: list[dict[str, Any]] = [c for c in pod["spec"].get("initContainers") or []
                                       if c["name"] == INIT]
        assert found, f"KServe's webhook injected no {INIT} into {pod['metadata']['name']}"
        return found[0]


def run_syncer(env: servers.Env, config: Path, *args: str) -> tuple[int, str]:
    """The real CLI, as a user runs it: ``kserve-vault-sync once -c CONFIG``."""
    import sys
    exe = Path(sys.executable).parent / "kserve-vault-sync"
    child_env = {"PATH": "/usr/bin:/bin", "HOME": str(config.parent),
                 "KUBECONFIG": env.kubeconfig}
    done = subprocess.run([str(exe), "once", "-c", str(config), *args], env=child_env,
                          capture_output=True, text=True, timeout=120, check=False)
    return done.returncode, done.stdout + done.stderr


def audit_offset(cluster: KServeCluster) -> int:
    """Where the API server's audit log ends now (events after it are this test's)."""
    with open(cluster.env.audit_log, "rb") as fh:
        return fh.seek(0, 2)
