"""Opt-in rollouts after a rotation, against the real API server: Deployments get a
pod-template annotation bump, InferenceServices a spec.predictor.annotations bump
(KServe's ComponentExtensionSpec adds those to the component pod)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import hvac
import pytest
from kubernetes import client as k8s
from kubernetes.utils import create_from_dict

from syncer.consumers import ANN_RESTARTED_AT, ANN_ROLLOUT_HASH
from tests.entries import put_s3, s3_entry
from tests.helpers import WriteConfig
from tests.integration.cluster_tools import deployment, restarted
from tests.kubeobjects import annotations_of

pytestmark = pytest.mark.integration
Cli = Callable[..., tuple[int, str]]

ISVC_CRD = {  # just enough of KServe's CRD for the API server to serve the kind
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "inferenceservices.serving.kserve.io"},
    "spec": {"group": "serving.kserve.io", "scope": "Namespaced",
             "names": {"plural": "inferenceservices", "singular": "inferenceservice",
                       "kind": "InferenceService", "shortNames": ["isvc"]},
             "versions": [{"name": "v1beta1", "served": True, "storage": True,
                           "schema": {"openAPIV3Schema": {
                               "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]},
}


@pytest.fixture(scope="module")
def isvc_crd(kube_api: k8s.ApiClient) -> None:
    ext = k8s.ApiextensionsV1Api(kube_api)
    try:
        # A dict body: the client builds the model from it.
        ext.create_custom_resource_definition(ISVC_CRD)  # type: ignore[arg-type]
    except k8s.ApiException as exc:
        if exc.status != 409:
            raise
    import time
    for _ in range(50):
        crd = ext.read_custom_resource_definition("inferenceservices.serving.kserve.io")
        assert crd.status is not None
        if any(c.type == "Established" and c.status == "True"
               for c in (crd.status.conditions or [])):
            return
        time.sleep(0.2)
    raise AssertionError("InferenceService CRD not established")


def isvc_restarted(custom: k8s.CustomObjectsApi, ns: str, name: str) -> str | None:
    # Custom objects come back as parsed JSON; the client annotates them as object.
    obj = cast(dict[str, Any], custom.get_namespaced_custom_object(
        "serving.kserve.io", "v1beta1", ns, "inferenceservices", name))
    return ((obj["spec"].get("predictor") or {}).get("annotations") or {}).get(ANN_RESTARTED_AT)


def test_rotation_rolls_consumers_once(isvc_crd: None, kube_api: k8s.ApiClient,
                                       bao: hvac.Client, cli: Cli, write_config: WriteConfig,
                                       vault_prefix: str, namespace: str) -> None:
    apps, custom = k8s.AppsV1Api(kube_api), k8s.CustomObjectsApi(kube_api)
    for obj in (deployment("via-sa", {"serviceAccountName": "s3-sa"}),
                deployment("via-env", {"containers": [{"name": "c", "image": "x", "env": [
                    {"name": "K", "valueFrom": {"secretKeyRef": {"name": "s3-secret",
                                                                 "key": "AWS_ACCESS_KEY_ID"}}}]}]}),
                deployment("unrelated", {})):
        # kubernetes.utils has no annotations
        create_from_dict(kube_api, obj, namespace=namespace)  # type: ignore[no-untyped-call]
    for name, predictor in (("isvc-sa", {"serviceAccountName": "s3-sa"}),
                            ("isvc-storage", {"model": {"storage": {"key": "m"}}}),
                            ("isvc-other", {"serviceAccountName": "default"})):
        custom.create_namespaced_custom_object(
            "serving.kserve.io", "v1beta1", namespace, "inferenceservices",
            {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
             "metadata": {"name": name}, "spec": {"predictor": predictor}})
    path = f"{vault_prefix}/s3"
    put_s3(bao, path)
    config = str(write_config([s3_entry("s3", path, [namespace], rollout=True,
                                        storageConfig={"key": "m"})]))
    assert cli("once", "-c", config)[0] == 0
    # Creating a credential is not a rotation: nothing restarts.
    assert restarted(apps, namespace, "via-sa") is None

    put_s3(bao, path)
    code, out = cli("once", "-c", config)
    assert code == 0, out
    assert out.count(" rolled ") == 4, out
    stamps = {n: restarted(apps, namespace, n) for n in ("via-sa", "via-env", "unrelated")}
    assert stamps["via-sa"] and stamps["via-env"] and stamps["unrelated"] is None
    assert isvc_restarted(custom, namespace, "isvc-sa")
    assert isvc_restarted(custom, namespace, "isvc-storage")
    assert isvc_restarted(custom, namespace, "isvc-other") is None
    spec = apps.read_namespaced_deployment("via-sa", namespace).spec
    assert spec is not None
    assert annotations_of(spec.template)[ANN_ROLLOUT_HASH]

    # No change, or a new Vault version with the same values (our metadata only): no restart.
    assert cli("once", "-c", config)[0] == 0
    data = bao.secrets.kv.v2.read_secret_version(path, raise_on_deleted_version=True)
    bao.secrets.kv.v2.create_or_update_secret(path, secret=data["data"]["data"])
    code, out = cli("once", "-c", config)
    assert code == 0 and " rolled " not in out, out
    assert restarted(apps, namespace, "via-sa") == stamps["via-sa"]


def test_rollouts_are_rate_limited(kube_api: k8s.ApiClient, bao: hvac.Client, cli: Cli,
                                   write_config: WriteConfig, vault_prefix: str,
                                   namespace: str) -> None:
    for i in range(3):
        # kubernetes.utils has no annotations
        create_from_dict(  # type: ignore[no-untyped-call]
            kube_api, deployment(f"d{i}", {"serviceAccountName": "s3-sa"}), namespace=namespace)
    path = f"{vault_prefix}/s3"
    put_s3(bao, path)
    config = str(write_config([s3_entry("s3", path, [namespace], rollout=True)],
                              sync={"rolloutsPerMinute": 1}))
    assert cli("once", "-c", config)[0] == 0
    put_s3(bao, path)
    code, out = cli("once", "-c", config)
    assert code == 0, out
    assert out.count(" rolled ") == 1 and out.count(" deferred ") == 2, out
