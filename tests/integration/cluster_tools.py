"""What integration tests do with the cluster beyond the Python client: kubectl,
authorization checks, and the workloads a rollout restarts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from kubernetes import client as k8s

from devenv import servers
from syncer.consumers import ANN_RESTARTED_AT
from tests.kubeobjects import meta

KUBECTL = Path(sys.executable).parent / "kubectl"


def run(*args: str | Path, stdin: str | None = None, check: bool = True
        ) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in args], input=stdin, capture_output=True,
                            text=True, timeout=300, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"{args[0]} failed ({result.returncode}):\n"
                             f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def dry_run(devenv: servers.Env, manifest: str, namespace: str) -> str:
    return run(KUBECTL, "--kubeconfig", devenv.kubeconfig, "apply", "--dry-run=server",
               "-n", namespace, "-f", "-", stdin=manifest).stdout


def allowed(kube_api: k8s.ApiClient, user: str, verb: str, resource: str,
            namespace: str | None, *, name: str = "") -> bool:
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": user, "groups": ["system:serviceaccounts"],
                     "resourceAttributes": {"verb": verb, "resource": resource,
                                            "namespace": namespace or "", "name": name}}}
    # A dict body: the client builds the model from it.
    review = k8s.AuthorizationV1Api(kube_api).create_subject_access_review(
        body)  # type: ignore[arg-type]
    assert review.status is not None
    return bool(review.status.allowed)


def deployment(name: str, pod: dict[str, Any]) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": "x"}], **pod}}}}


def restarted(apps: k8s.AppsV1Api, ns: str, name: str) -> str | None:
    spec = apps.read_namespaced_deployment(name, ns).spec
    assert spec is not None
    ann = meta(spec.template).annotations or {}
    return ann.get(ANN_RESTARTED_AT)
