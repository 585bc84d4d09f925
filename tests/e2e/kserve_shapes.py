"""The credential shapes the syncer writes today, with values made per run,
and the InferenceServices a user would create to consume each of them.

Every value goes into OpenBao and through the real CLI; every generated value
is registered with the leak guard (tests/seeds.py).
"""

from __future__ import annotations

import json
import secrets
import subprocess
from dataclasses import dataclass, field
from typing import Any

import hvac

from tests import seeds
from tests.e2e.consumer import MotoS3

SKLEARN = {"name": "sklearn"}
HF_URI = "hf://kvs-e2e/tiny-model"
GCS_URI = "gs://kvs-e2e-models/sklearn/model"
AZURE_URI = "https://kvse2e.blob.core.windows.net/models/sklearn/model"


def gcs_key_file() -> str:
    """A service-account key file with a fresh RSA key (google-auth parses the key)."""
    pem = subprocess.run(["openssl", "genrsa", "2048"], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    pem = subprocess.run(["openssl", "pkcs8", "-topk8", "-nocrypt"], input=pem,
                         capture_output=True, text=True, check=True, timeout=60).stdout
    seeds.register("gcs-private-key", pem.strip().splitlines()[1])
    body = json.dumps({
        "type": "service_account", "project_id": "kvs-e2e",
        "private_key_id": secrets.token_hex(20), "private_key": pem,
        "client_email": "model-reader@kvs-e2e.iam.gserviceaccount.com",
        "client_id": str(secrets.randbelow(10**20)),
        "token_uri": "https://127.0.0.1:9/token"})
    return seeds.register("gcs-key-file", body)


@dataclass
class Shapes:
    """What this run put in OpenBao under ``prefix``."""

    prefix: str
    s3_key: tuple[str, str]
    hf_token: str = field(default_factory=lambda: seeds.fake("loop-hf", "hf_"))
    gcs: str = field(default_factory=gcs_key_file)
    azure_sp: dict[str, str] = field(default_factory=lambda: {
        "client_id": secrets.token_hex(8), "client_secret": seeds.fake("loop-azure-secret"),
        "tenant_id": secrets.token_hex(8), "subscription_id": secrets.token_hex(8)})
    azure_key: str = field(default_factory=lambda: seeds.fake("loop-azure-key"))

    def write(self, bao: hvac.Client) -> None:
        kv = bao.secrets.kv.v2
        kv.create_or_update_secret(f"{self.prefix}/s3", secret={
            "access_key": self.s3_key[0], "secret_key": self.s3_key[1]})
        kv.create_or_update_secret(f"{self.prefix}/hf", secret={"t": self.hf_token})
        kv.create_or_update_secret(f"{self.prefix}/gcs", secret={"json": self.gcs})
        kv.create_or_update_secret(f"{self.prefix}/azure-sp", secret=self.azure_sp)
        kv.create_or_update_secret(f"{self.prefix}/azure-key", secret={"key": self.azure_key})

    def rotate_s3(self, bao: hvac.Client, key: tuple[str, str]) -> None:
        self.s3_key = key
        bao.secrets.kv.v2.create_or_update_secret(f"{self.prefix}/s3", secret={
            "access_key": key[0], "secret_key": key[1]})


def s3_credential(shapes: Shapes, s3: MotoS3, ns: str, *, rollout: bool = False,
                  service_account: str = "s3-sa", **s3_options: Any) -> dict[str, Any]:
    """The seed pattern: s3-secret with KServe's annotations, listed in a ServiceAccount,
    plus a storage-config entry under `models` that is also `default`/`default_s3`."""
    return {"name": "models", "type": "s3",
            "vault": {"path": f"{shapes.prefix}/s3",
                      "keys": {"accessKeyId": "access_key", "secretAccessKey": "secret_key"}},
            "s3": {"endpoint": s3.url, "region": "us-east-1", "verifySsl": False,
                   **s3_options},
            "targets": [{"namespaces": [ns], "secret": "s3-secret",
                         "serviceAccount": service_account, "rollout": rollout,
                         "storageConfig": {"key": "models", "bucket": s3.bucket,
                                           "default": True}}]}


def other_credentials(shapes: Shapes, ns: str) -> list[dict[str, Any]]:
    """HF token (in storage-config, listed in hfserviceacc), GCS and the Azure shapes."""
    def one(name: str, kind: str, keys: dict[str, str], secret: str, sa: str
            ) -> dict[str, Any]:
        return {"name": name, "type": kind,
                "vault": {"path": f"{shapes.prefix}/{name}", "keys": keys},
                "targets": [{"namespaces": [ns], "secret": secret, "serviceAccount": sa}]}
    return [
        one("hf", "hf", {"token": "t"}, "storage-config", "hfserviceacc"),
        one("gcs", "gcs", {"credentials": "json"}, "gcs-secret", "gcs-sa"),
        one("azure-sp", "azure", {"clientId": "client_id", "clientSecret": "client_secret",
                                  "tenantId": "tenant_id", "subscriptionId": "subscription_id"},
            "azure-sp", "azure-sp"),
        one("azure-key", "azure", {"storageAccessKey": "key"}, "azure-key", "azure-key"),
    ]


def predictors(s3: MotoS3) -> dict[str, dict[str, Any]]:
    """InferenceService name -> spec.predictor, as a user writes them."""
    def sa_model(sa: str, uri: str, fmt: dict[str, str] = SKLEARN) -> dict[str, Any]:
        return {"serviceAccountName": sa, "model": {"modelFormat": fmt, "storageUri": uri}}

    def spec_model(storage: dict[str, Any]) -> dict[str, Any]:
        return {"model": {"modelFormat": SKLEARN, "storage": storage}}
    return {
        "s3-sa": sa_model("s3-sa", s3.uri),
        "spec-key": spec_model({"key": "models", "path": s3.object_key}),
        "spec-default": spec_model({"path": s3.object_key}),
        # With parameters.type, KServe reads key `default_s3` but takes the bucket
        # from the parameters only (see test_default_s3_needs_the_bucket_in_parameters).
        "spec-default-s3": spec_model({"path": s3.object_key,
                                       "parameters": {"type": "s3", "bucket": s3.bucket}}),
        "hf": sa_model("hfserviceacc", HF_URI, {"name": "huggingface"}),
        "gcs": sa_model("gcs-sa", GCS_URI),
        "azure-sp": sa_model("azure-sp", AZURE_URI),
        "azure-key": sa_model("azure-key", AZURE_URI),
    }
