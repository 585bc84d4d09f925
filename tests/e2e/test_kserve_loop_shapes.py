"""KServe in the loop: every credential shape we write, consumed by KServe's own code.

The syncer writes from OpenBao (the real CLI); InferenceServices are created
as a user would; KServe's controller makes the Deployment, kube-controller-
manager the Pod, KServe's webhook injects the storage initializer. The test
resolves that init container's env and Secret files as the kubelet would
(tests/e2e/kubelet.py) and runs KServe's `kserve-storage` - the release that
matches the KServe manager - with them against moto S3 with IAM enforced.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import hvac
import pytest

from tests.e2e import kubelet
from tests.e2e.conftest import Sync
from tests.e2e.consumer import MotoS3, consumer_python, download
from tests.e2e.kserve_cluster import KServeCluster, NotYet, wait_for
from tests.e2e.kserve_shapes import Shapes, other_credentials, predictors, s3_credential
from tests.e2e.readback import STORAGE, sha

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
# The storage initializer image of a KServe release runs kserve-storage of that release.


def in_storage_initializer(resolved: kubelet.Resolved, script: str) -> str:
    """Run python in kserve-storage's venv with exactly the resolved env and files."""
    with tempfile.TemporaryDirectory(prefix="kvs-pod-") as root:
        env = {**resolved.materialize(Path(root)), "PATH": "/usr/bin:/bin", "HOME": root,
               "HF_HUB_OFFLINE": "1"}
        done = subprocess.run([str(consumer_python(STORAGE)), "-c", script], env=env,
                              capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip()


def pod_of(cluster: KServeCluster, ns: str, name: str) -> tuple[dict[str, Any],
                                                              kubelet.Resolved]:
    pod = cluster.wait_pod(ns, name)
    return pod, kubelet.resolve(cluster.core, pod, "storage-initializer")


def start_all(cluster: KServeCluster, kbao: hvac.Client, sync: Sync, moto: MotoS3, ns: str,
              vault_prefix: str) -> Shapes:
    shapes = Shapes(vault_prefix, moto.initial_key)
    shapes.write(kbao)
    sync([s3_credential(shapes, moto, ns), *other_credentials(shapes, ns)])
    for name, predictor in predictors(moto).items():
        cluster.create_isvc(ns, name, predictor)
    return shapes


@pytest.fixture
def vault_prefix(request: pytest.FixtureRequest) -> str:
    import secrets
    return f"loop/{request.node.name[:30]}-{secrets.token_hex(3)}"


def test_s3_shapes_download_through_kserve_and_a_revoked_key_is_refused(
        cluster: KServeCluster, kbao: hvac.Client, sync: Sync, moto: MotoS3, kns: str,
        vault_prefix: str) -> None:
    start_all(cluster, kbao, sync, moto, kns, vault_prefix)
    resolved: dict[str, kubelet.Resolved] = {}
    for name in ("s3-sa", "spec-key", "spec-default", "spec-default-s3"):
        pod, resolved[name] = pod_of(cluster, kns, name)
        init = cluster.storage_initializer(pod)
        # The bucket of our storage-config entry made the URI for the spec paths.
        assert init["args"][:2] == [moto.uri, "/mnt/models"], init["args"]
        result = download(resolved[name].env, init["args"][0], version=STORAGE)
        assert result.ok, f"{name}: {result.output}"
        assert result.files == {moto.object_key: moto.object_bytes}, name

    # What KServe put into each pod, by name only (values are secrets).
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "S3_ENDPOINT",
            "S3_USE_HTTPS", "S3_VERIFY_SSL", "AWS_DEFAULT_REGION"} <= set(resolved["s3-sa"].env)
    assert resolved["s3-sa"].env["AWS_ENDPOINT_URL"] == moto.url
    for name, key in (("spec-key", "models"), ("spec-default", "default"),
                      ("spec-default-s3", "default_s3")):
        init = cluster.storage_initializer(cluster.wait_pod(kns, name))
        [ref] = [e["valueFrom"]["secretKeyRef"] for e in init["env"]
                 if e["name"] == "STORAGE_CONFIG"]
        assert ref == {"name": "storage-config", "key": key}, name
        assert json.loads(resolved[name].env["STORAGE_CONFIG"])["bucket"] == moto.bucket

    # The key KServe handed over is what authenticates: once revoked, every shape fails.
    moto.create_access_key()
    moto.delete_access_key(moto.initial_key[0])
    for name, env in resolved.items():
        refused = download(env.env, moto.uri, version=STORAGE)
        assert not refused.ok and refused.files == {}, name
        assert "403" in refused.output or "InvalidAccessKeyId" in refused.output, refused.output


def test_hf_gcs_and_azure_shapes_reach_kserve_storage(
        cluster: KServeCluster, kbao: hvac.Client, sync: Sync, moto: MotoS3, kns: str,
        vault_prefix: str) -> None:
    shapes = start_all(cluster, kbao, sync, moto, kns, vault_prefix)

    # Hugging Face: HF_TOKEN from storage-config via hfserviceacc; huggingface_hub reads it.
    _, hf = pod_of(cluster, kns, "hf")
    got = in_storage_initializer(hf, "import hashlib, huggingface_hub; print(hashlib.sha256("
                                     "huggingface_hub.get_token().encode()).hexdigest())")
    assert got == sha(shapes.hf_token)

    # GCS: the key file mounted where GOOGLE_APPLICATION_CREDENTIALS points; google-auth
    # (what storage.Client() in kserve-storage calls) loads it.
    _, gcs = pod_of(cluster, kns, "gcs")
    path = gcs.env["GOOGLE_APPLICATION_CREDENTIALS"]
    assert path == "/var/secrets/gcloud-application-credentials.json"
    assert gcs.files[path].decode() == shapes.gcs
    got = in_storage_initializer(gcs, "import google.auth; c, p = google.auth.default(); "
                                      "print(c.service_account_email, p)")
    assert got == "model-reader@kvs-e2e.iam.gserviceaccount.com kvs-e2e"

    # Azure service principal: kserve-storage builds a token credential from the env.
    _, sp = pod_of(cluster, kns, "azure-sp")
    for env_name, value in (("AZURE_CLIENT_ID", "client_id"), ("AZURE_TENANT_ID", "tenant_id"),
                            ("AZURE_CLIENT_SECRET", "client_secret"),
                            ("AZURE_SUBSCRIPTION_ID", "subscription_id")):
        assert sha(sp.env.get(env_name, "")) == sha(shapes.azure_sp[value]), env_name
    probe = ("from kserve_storage import Storage; import hashlib; "
             "t = Storage._get_azure_storage_token(); k = Storage._get_azure_storage_access_key(); "
             "print(type(t).__name__, hashlib.sha256((k or '').encode()).hexdigest())")
    assert in_storage_initializer(sp, probe).split()[0] == "DefaultAzureCredential"

    # Azure storage account key: passed as AZURE_STORAGE_ACCESS_KEY only.
    _, key = pod_of(cluster, kns, "azure-key")
    assert in_storage_initializer(key, probe) == f"NoneType {sha(shapes.azure_key)}"


def test_azure_access_token_shape_is_refused(sync: Sync, kns: str) -> None:
    """KServe passes AZURE_ACCESS_TOKEN to the storage initializer, but kserve-storage
    never reads it (only AZURE_CLIENT_*/AZ_* and AZURE_STORAGE_ACCESS_KEY): the shape
    would fall back to anonymous access, so the config refuses it."""
    out = sync([{"name": "azure-token", "type": "azure",
                 "vault": {"path": "loop/none", "keys": {"accessToken": "token",
                                                         "tenantId": "tenant_id"}},
                 "targets": [{"namespaces": [kns], "secret": "azure-token"}]}], expect=2)
    assert "never reads AZURE_ACCESS_TOKEN" in out


def ca_bundle_mount(cluster: KServeCluster, ns: str, isvc: str) -> tuple[str, str]:
    """(CA file the storage initializer is told to use, where KServe mounts the CA bundle)."""
    pod = cluster.wait_pod(ns, isvc)
    init = cluster.storage_initializer(pod)
    [mount] = [m["mountPath"] for m in init.get("volumeMounts") or []
               if m["name"] == "cabundle-cert"]
    env = kubelet.resolve(cluster.core, pod, "storage-initializer").env
    if "STORAGE_CONFIG" in env:  # kserve-storage copies ca_bundle into AWS_CA_BUNDLE
        return json.loads(env["STORAGE_CONFIG"])["ca_bundle"], mount
    return env["AWS_CA_BUNDLE"], mount


@pytest.fixture
def with_ca_bundle(cluster: KServeCluster, kbao: hvac.Client, sync: Sync, moto: MotoS3,
                   kns: str, vault_prefix: str) -> str:
    shapes = Shapes(vault_prefix, moto.initial_key)
    shapes.write(kbao)
    sync([s3_credential(shapes, moto, kns, caBundle="/etc/ssl/minio/ca.crt",
                        caBundleConfigMap="minio-ca")])
    for name in ("s3-sa", "spec-key"):
        cluster.create_isvc(kns, name, predictors(moto)[name])
    return kns


def test_ca_bundle_on_the_service_account_path_is_mounted_where_the_annotation_says(
        cluster: KServeCluster, with_ca_bundle: str) -> None:
    ca_file, mount = ca_bundle_mount(cluster, with_ca_bundle, "s3-sa")
    assert (ca_file, mount) == ("/etc/ssl/minio/ca.crt", "/etc/ssl/minio")


def test_ca_bundle_on_the_storage_spec_path_names_a_mounted_file(
        cluster: KServeCluster, with_ca_bundle: str) -> None:
    """KServe mounts the CA ConfigMap at storageInitializer.caBundleVolumeMountPath on
    this path: the entry names the file there."""
    ca_file, mount = ca_bundle_mount(cluster, with_ca_bundle, "spec-key")
    assert (ca_file, mount) == ("/etc/ssl/custom-certs/ca.crt", "/etc/ssl/custom-certs")


def test_default_s3_needs_the_bucket_in_parameters(
        cluster: KServeCluster, kbao: hvac.Client, sync: Sync, moto: MotoS3, kns: str,
        vault_prefix: str) -> None:
    """KServe reads `default_s3` when storage.parameters.type is s3, but then takes the
    bucket from the parameters only: the `bucket` of our entry is not used there."""
    shapes = Shapes(vault_prefix, moto.initial_key)
    shapes.write(kbao)
    sync([s3_credential(shapes, moto, kns)])
    cluster.create_isvc(kns, "no-bucket", {"model": {"modelFormat": {"name": "sklearn"},
                                                     "storage": {"path": moto.object_key,
                                                                 "parameters": {"type": "s3"}}}})

    def refused() -> str:
        for event in cluster.core.list_namespaced_event(kns).items:
            if event.reason == "FailedCreate" and "pod-mutator" in (event.message or ""):
                return str(event.message)
        raise NotYet("no FailedCreate event yet")
    assert "requires a bucket but one wasn't found" in wait_for("KServe's refusal", refused)
    assert cluster.pods(kns, "no-bucket") == []
