"""KServe's own storage initializer code reads what the syncer wrote.

The Secret and storage-config come from a real sync (OpenBao -> kube-apiserver);
the consumer is kserve-storage 0.21.0 in its own virtualenv, downloading from
moto S3 with IAM enforced (tests/e2e/consumer.py). The environment it gets is
what KServe's controller builds: pkg/credentials/s3/s3_secret.go for the
ServiceAccount path, STORAGE_CONFIG (a secretKeyRef to our key) for the
storage-spec path (pkg/webhook/admission/pod/storage_initializer_injector.go).
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable, Iterator

import hvac
import pytest
from kubernetes import client as k8s

from tests import seeds
from tests.e2e.consumer import MotoS3, consumer_python, download, kserve_env_from_s3_secret
from tests.helpers import WriteConfig, secret_data
from tests.kubeobjects import listed, meta

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
Cli = Callable[..., tuple[int, str]]

# KServe's provider order for a Secret listed in a ServiceAccount
# (pkg/credentials/service_account_credentials.go, mountSecretCredential).
PROVIDER_ORDER = [("AWS_SECRET_ACCESS_KEY", "s3"), ("gcloud-application-credentials.json", "gcs"),
                  ("AZ_CLIENT_ID", "azure"), ("AZURE_CLIENT_ID", "azure"),
                  ("AZURE_ACCESS_TOKEN", "azure"), ("AZURE_STORAGE_ACCESS_KEY", "azure"),
                  ("https-host", "https"), ("HDFS_NAMENODE", "hdfs"), ("HF_TOKEN", "hf"),
                  ("MODELSCOPE_API_TOKEN", "modelscope")]


def kserve_provider(keys: set[str]) -> str | None:
    return next((provider for key, provider in PROVIDER_ORDER if key in keys), None)


@pytest.fixture(scope="module")
def s3() -> Iterator[MotoS3]:
    with MotoS3() as server:
        seeds.register("moto-initial-secret", server.initial_key[1])
        yield server


def sync_config(write_config: WriteConfig, s3: MotoS3, prefix: str, ns: str) -> str:
    return str(write_config([
        {"name": "models", "type": "s3",
         "vault": {"path": f"{prefix}/s3",
                   "keys": {"accessKeyId": "access_key", "secretAccessKey": "secret_key"}},
         "s3": {"endpoint": s3.url, "region": "us-east-1", "verifySsl": False},
         "targets": [{"namespaces": [ns], "secret": "s3-secret", "serviceAccount": "s3-sa",
                      "storageConfig": {"key": "models", "bucket": s3.bucket,
                                        "default": True}}]},
        {"name": "hf", "type": "hf", "vault": {"path": f"{prefix}/hf", "keys": {"token": "t"}},
         "targets": [{"namespaces": [ns], "secret": "storage-config",
                      "serviceAccount": "hfserviceacc"}]},
    ]))


def consumer_env_from_cluster(core: k8s.CoreV1Api, ns: str) -> dict[str, str]:
    secret = core.read_namespaced_secret("s3-secret", ns)
    return kserve_env_from_s3_secret(secret_data(core, ns, "s3-secret"),
                                     meta(secret).annotations or {})


def test_kserve_storage_downloads_with_our_credentials_and_follows_rotation(
        s3: MotoS3, core: k8s.CoreV1Api, bao: hvac.Client, cli: Cli,
        write_config: WriteConfig, vault_prefix: str, namespace: str) -> None:
    old = s3.initial_key
    bao.secrets.kv.v2.create_or_update_secret(f"{vault_prefix}/s3", secret={
        "access_key": old[0], "secret_key": old[1]})
    hf_token = seeds.fake("e2e-hf", "hf_")
    bao.secrets.kv.v2.create_or_update_secret(f"{vault_prefix}/hf", secret={"t": hf_token})
    config = sync_config(write_config, s3, vault_prefix, namespace)
    code, out = cli("once", "-c", config)
    assert code == 0, out

    # (a) The ServiceAccount path: env built from s3-secret and its annotations.
    env = consumer_env_from_cluster(core, namespace)
    assert env["AWS_ENDPOINT_URL"] == s3.url and env["S3_USE_HTTPS"] == "0"
    result = download(env, s3.uri)
    assert result.ok, result.output
    assert result.files == {s3.object_key: s3.object_bytes}

    # (b) The storage-spec path: our entry passed as STORAGE_CONFIG (keys default and models).
    storage = secret_data(core, namespace, "storage-config")
    for key in ("models", "default"):
        by_spec = download({"STORAGE_CONFIG": storage[key]}, s3.uri)
        assert by_spec.ok, by_spec.output
        assert by_spec.files == {s3.object_key: s3.object_bytes}

    # Rotation: a new key in Vault, one sync, the old key deleted at the provider.
    new = s3.create_access_key()
    seeds.register("moto-rotated-secret", new[1])
    bao.secrets.kv.v2.create_or_update_secret(f"{vault_prefix}/s3", secret={
        "access_key": new[0], "secret_key": new[1]})
    code, out = cli("once", "-c", config)
    assert code == 0, out
    s3.delete_access_key(old[0])
    rotated_env = consumer_env_from_cluster(core, namespace)
    assert download(rotated_env, s3.uri).ok
    assert download({"STORAGE_CONFIG": secret_data(core, namespace, "storage-config")["models"]},
                    s3.uri).ok
    refused = download(env, s3.uri)  # the environment a pod started before rotation has
    assert not refused.ok and "403" in refused.output
    assert not download({"STORAGE_CONFIG": storage["models"]}, s3.uri).ok


def test_hf_token_path_is_picked_up(core: k8s.CoreV1Api, bao: hvac.Client, cli: Cli,
                                    write_config: WriteConfig, vault_prefix: str,
                                    namespace: str) -> None:
    """KServe picks the HF provider for our storage-config (no earlier-matching key),
    passes HF_TOKEN as env, and huggingface_hub in the consumer image reads it."""
    token = seeds.fake("e2e-hf-only", "hf_")
    bao.secrets.kv.v2.create_or_update_secret(f"{vault_prefix}/hf", secret={"t": token})
    config = write_config([
        {"name": "hf", "type": "hf", "vault": {"path": f"{vault_prefix}/hf",
                                               "keys": {"token": "t"}},
         "targets": [{"namespaces": [namespace], "secret": "storage-config",
                      "serviceAccount": "hfserviceacc"}]}])
    assert cli("once", "-c", str(config))[0] == 0
    sa = core.read_namespaced_service_account("hfserviceacc", namespace)
    [only] = listed(sa)
    data = secret_data(core, namespace, only)
    assert kserve_provider(set(data)) == "hf"
    script = ("import hashlib, huggingface_hub; "
              "print(hashlib.sha256(huggingface_hub.get_token().encode()).hexdigest())")
    seen = subprocess.run([str(consumer_python()), "-c", script], capture_output=True,
                          text=True, timeout=120, check=True,
                          env={"HF_TOKEN": data["HF_TOKEN"], "HF_HUB_OFFLINE": "1",
                               "PATH": "/usr/bin:/bin"})
    assert seen.stdout.strip() == hashlib.sha256(token.encode()).hexdigest()


def test_our_s3_secret_is_detected_as_s3() -> None:
    assert kserve_provider({"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}) == "s3"
    # Why the config refuses S3 keys in storage-config: they would shadow HF_TOKEN.
    assert kserve_provider({"AWS_SECRET_ACCESS_KEY", "HF_TOKEN"}) == "s3"
