"""The KServe part of the demo (``KVS_DEMO_KSERVE=1 make demo``).

Creates two InferenceServices in team-a the way a user would - one reading S3
through the ServiceAccount ``s3-sa``, one through the ``storage-config``
entry - and, once KServe's controller, kube-controller-manager and KServe's
webhook have made their predictor pods, prints each pod's storage-initializer
as KServe injected it, with every credential it references resolved to the
synced Secret and shown only as a hash.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from pathlib import Path
from typing import Any

from kubernetes import client as k8s

NAMESPACE = "team-a"
ISVCS = {
    "via-service-account": {"serviceAccountName": "s3-sa", "model": {
        "modelFormat": {"name": "sklearn"}, "storageUri": "s3://models/sklearn/iris"}},
    "via-storage-config": {"model": {
        "modelFormat": {"name": "sklearn"}, "storage": {"key": "team-a", "path": "sklearn/iris"}}},
}
SECRET_FIELDS = {"access_key_id", "secret_access_key"}


def _redact(value: str) -> str:
    return f"<redacted sha256:{hashlib.sha256(value.encode()).hexdigest()[:12]}>"


def _pod(core: k8s.CoreV1Api, name: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        raw = core.list_namespaced_pod(NAMESPACE, _preload_content=False,
                                       label_selector=f"serving.kserve.io/inferenceservice={name}")
        items: list[dict[str, Any]] = json.loads(raw.data)["items"]
        if items:
            return items[0]
        time.sleep(0.5)
    raise TimeoutError(f"no predictor pod for InferenceService {name} after {timeout:.0f}s")


def _describe(core: k8s.CoreV1Api, env: dict[str, Any]) -> str:
    ref = (env.get("valueFrom") or {}).get("secretKeyRef")
    if ref is None:
        return f"{env['name']}={env.get('value', '')}"
    secret = core.read_namespaced_secret(ref["name"], NAMESPACE)
    value = base64.b64decode(secret.data[ref["key"]]).decode()
    source = (secret.metadata.annotations or {}).get("kserve-vault-sync/source", "?")
    if env["name"] == "STORAGE_CONFIG":
        spec = json.loads(value)
        shown = {k: _redact(v) if k in SECRET_FIELDS else v for k, v in sorted(spec.items())}
        value_text = json.dumps(shown)
    else:
        value_text = _redact(value)
    return (f"{env['name']} <- Secret {ref['name']}[{ref['key']}] "
            f"(synced from {source}) = {value_text}")


def show(api: k8s.ApiClient, kubectl: Path, kubeconfig: str) -> None:
    """Create the InferenceServices and print what KServe put into their pods."""
    custom, core = k8s.CustomObjectsApi(api), k8s.CoreV1Api(api)
    for name, predictor in ISVCS.items():
        custom.create_namespaced_custom_object(
            "serving.kserve.io", "v1beta1", NAMESPACE, "inferenceservices",
            {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
             "metadata": {"name": name}, "spec": {"predictor": predictor}})
    print(f"\n==> created InferenceServices {', '.join(ISVCS)} in {NAMESPACE}; KServe made "
          "their Deployments, kube-controller-manager their pods (Pending: no kubelet runs)",
          flush=True)
    for name in ISVCS:
        pod = _pod(core, name)
        [init] = [c for c in pod["spec"].get("initContainers") or []
                  if c["name"] == "storage-initializer"]
        print(f"\n--- pod {pod['metadata']['name']} (serviceAccountName: "
              f"{pod['spec'].get('serviceAccountName')}), init container storage-initializer "
              "as KServe's webhook injected it:")
        print(f"    args: {init['args']}")
        for env in init.get("env") or []:
            if not env["name"].startswith("HF_"):
                print(f"    {_describe(core, env)}")
    print(f"\nInspect: {kubectl} --kubeconfig {kubeconfig} get pod -n {NAMESPACE} -o yaml",
          flush=True)
