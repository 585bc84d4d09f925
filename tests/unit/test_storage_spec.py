"""The storage-spec entry and s3 annotations, exactly as KServe reads them, and the
settings read from a cluster's inferenceservice-config of any shape. Table-driven."""

from __future__ import annotations

import json
from typing import Any

import pytest

from syncer import kserve
from syncer.secretvalue import SecretValue
from syncer.settings import S3Options

KEYS = {"type": "s3", "access_key_id": "AK", "secret_access_key": "SK"}


@pytest.mark.parametrize(("s3", "bucket", "extra"), [
    (None, None, {}),
    ({"endpoint": "minio:9000", "verifySsl": True, "useAnonymousCredential": False,
      "caBundle": "/x/y/ca.pem", "region": "r"}, "models",
     {"endpoint_url": "https://minio:9000", "verify_ssl": "1", "anonymous": "false",
      "ca_bundle": "/etc/ssl/custom-certs/ca.pem", "region": "r", "bucket": "models"}),
    ({"endpoint": "minio:9000", "useHttps": False, "verifySsl": False,
      "useAnonymousCredential": True, "caBundleConfigMap": "cm"}, None,
     {"endpoint_url": "http://minio:9000", "verify_ssl": "0", "anonymous": "true",
      "cabundle_configmap": "cm"}),
    ({"endpoint": "minio:9000", "useHttps": True}, "", {"endpoint_url": "https://minio:9000"}),
])
def test_storage_spec_entry(s3: dict[str, Any] | None, bucket: str | None,
                            extra: dict[str, str]) -> None:
    opts = None if s3 is None else S3Options.model_validate(s3)
    spec = kserve.storage_spec_json(opts, bucket, SecretValue("AK"), SecretValue("SK"))
    assert json.loads(spec.reveal()) == {**KEYS, **extra}


@pytest.mark.parametrize(("s3", "expected"), [
    ({"useHttps": True, "verifySsl": True}, {"s3-usehttps": "1", "s3-verifyssl": "1"}),
    ({"useHttps": False, "verifySsl": False}, {"s3-usehttps": "0", "s3-verifyssl": "0"}),
])
def test_s3_switches(s3: dict[str, Any], expected: dict[str, str]) -> None:
    got = kserve.s3_annotations(S3Options.model_validate(s3))
    assert got == {f"serving.kserve.io/{k}": v for k, v in expected.items()}


@pytest.mark.parametrize("data", [
    {},
    {"credentials": ""},
    {"credentials": json.dumps({"s3": "not an object", "storageSpecSecretName": 7})},
    {"credentials": json.dumps({"s3": ["s3AccessKeyIDName"]}), "storageInitializer": "[]"},
])
def test_a_cluster_config_of_another_shape_gives_nothing(data: dict[str, str]) -> None:
    assert kserve.cluster_settings(data) == {}
