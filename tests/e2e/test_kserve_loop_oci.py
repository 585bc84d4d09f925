"""KServe in the loop: an OCI registry login from OpenBao pulls the modelcar image.

KServe reads no credential for ``oci://`` storage URIs. Its pod webhook adds the
model image as a container and an init container (the "modelcar",
``InjectModelcar`` in pkg/webhook/admission/pod/storage_initializer_injector.go);
the kubelet pulls them with the pod's ``imagePullSecrets``, which the API
server's ServiceAccount admission copies from the pod's ServiceAccount when the
pod names none. So the chain is: the syncer writes a
``kubernetes.io/dockerconfigjson`` Secret and lists it in the ServiceAccount's
``imagePullSecrets`` (beside entries it does not own); KServe's controller,
kube-controller-manager and the API server make the Pod; the kubelet's own
lookup (``pull-keyring``, k8s.io/kubernetes/pkg/credentialprovider at the API
server's version) finds our login for the modelcar image. Prune then removes
only our entry.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import subprocess
from typing import Any

import hvac
import pytest
from kubernetes import client as k8s

from devenv import keyring
from tests import seeds
from tests.e2e.conftest import Sync
from tests.e2e.kserve_cluster import INIT, KServeCluster, unparsed
from tests.kubeobjects import meta

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
REGISTRY = "registry.kvs.test:5000"
IMAGE = f"{REGISTRY}/models/sklearn:v1"


def pull_credentials(cluster: KServeCluster, pod: dict[str, Any], image: str
                     ) -> list[dict[str, str]]:
    """What the kubelet would pull ``image`` with for ``pod``: it reads each listed
    pull secret (skipping a missing one, as the kubelet does) and asks the keyring."""
    found = []
    for ref in pod["spec"].get("imagePullSecrets") or []:
        try:
            raw = unparsed(cluster.core.read_namespaced_secret(
                ref["name"], pod["metadata"]["namespace"], _preload_content=False))
        except k8s.ApiException as exc:
            if exc.status != 404:
                raise
            continue
        found.append(json.loads(raw.data))
    done = subprocess.run([str(keyring.pull_keyring())], input=json.dumps(
        {"image": image, "secrets": found}), capture_output=True, text=True, timeout=60,
        check=False)
    assert done.returncode == 0, done.stderr
    result: list[dict[str, str]] = json.loads(done.stdout)
    return result


def credential(path: str, ns: str, name: str = "registry") -> dict[str, Any]:
    return {"name": name, "type": "oci", "oci": {"registry": REGISTRY},
            "vault": {"path": path, "keys": {"username": "user", "password": "pass"}},
            "targets": [{"namespaces": [ns], "secret": "registry-pull",
                         "serviceAccount": "oci-sa"}]}


def test_a_registry_login_from_openbao_is_what_the_kubelet_pulls_the_modelcar_with(
        cluster: KServeCluster, kbao: hvac.Client, sync: Sync, kns: str) -> None:
    path = f"loop/oci-{secrets.token_hex(3)}"
    password = seeds.fake("loop-oci-password")
    kbao.secrets.kv.v2.create_or_update_secret(path, secret={"user": "robot",
                                                             "pass": password})
    # The ServiceAccount exists with someone else's pull secret: it stays, first.
    # A dict body: the client builds the model from it.
    cluster.core.create_namespaced_service_account(kns, {  # type: ignore[arg-type]
        "metadata": {"name": "oci-sa"}, "imagePullSecrets": [{"name": "team-pull"}]})
    sync([credential(path, kns)])
    account = cluster.core.read_namespaced_service_account("oci-sa", kns)
    assert account.image_pull_secrets is not None
    assert [r.name for r in account.image_pull_secrets] == ["team-pull", "registry-pull"]
    assert not account.secrets  # KServe's storage-credential list is not touched
    assert cluster.core.read_namespaced_secret("registry-pull", kns).type == \
        "kubernetes.io/dockerconfigjson"

    cluster.create_isvc(kns, "oci", {"serviceAccountName": "oci-sa", "model": {
        "modelFormat": {"name": "sklearn"}, "storageUri": f"oci://{IMAGE}"}})
    pod = cluster.wait_pod(kns, "oci")
    spec = pod["spec"]
    # The API server's ServiceAccount admission copied the list into the Pod.
    assert spec.get("imagePullSecrets") == [{"name": "team-pull"}, {"name": "registry-pull"}]
    # KServe's webhook made the modelcar from the storageUri (no storage initializer).
    assert [c["image"] for c in spec["containers"] if c["name"] == "modelcar"] == [IMAGE]
    assert [c["image"] for c in spec["initContainers"]
            if c["name"] == "modelcar-init"] == [IMAGE]
    assert INIT not in [c["name"] for c in spec["initContainers"]]

    login = pull_credentials(cluster, pod, IMAGE)
    assert login == [{"secret": "registry-pull", "username": "robot",
                      "passwordSha256": hashlib.sha256(password.encode()).hexdigest()}]
    # The kubelet matches by registry: another registry's image gets nothing from it.
    assert pull_credentials(cluster, pod, "quay.io/other/model:v1") == []

    # Prune: the entry goes from the ServiceAccount first, then the Secret; theirs stays.
    other = f"loop/oci-other-{secrets.token_hex(3)}"
    kbao.secrets.kv.v2.create_or_update_secret(other, secret={"user": "robot2",
                                                              "pass": seeds.fake("loop-oci-2")})
    kept = {**credential(other, kns, "other"), "targets": [
        {"namespaces": [kns], "secret": "other-pull", "serviceAccount": "other-sa"}]}
    sync([credential(path, kns), kept])
    sync([kept], sync={"prune": True})
    account = cluster.core.read_namespaced_service_account("oci-sa", kns)
    assert account.image_pull_secrets is not None
    assert [r.name for r in account.image_pull_secrets] == ["team-pull"]
    names = [meta(s).name for s in cluster.core.list_namespaced_secret(kns).items]
    assert "registry-pull" not in names and "other-pull" in names
