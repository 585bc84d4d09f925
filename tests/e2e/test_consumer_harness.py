"""Self-check of the KServe consumer harness (tests/e2e/consumer.py), no Kubernetes.

Proves the harness can tell good credentials from bad ones: against moto with
IAM enforced, KServe's own `Storage.download` (kserve-storage 0.21.0) succeeds
with the right key - by Secret env and by STORAGE_CONFIG - and fails with a
wrong, or rotated-out and deleted, key. All keys here are moto's or fake.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.e2e.consumer import (
    MissingSecretKeyError,
    MotoS3,
    download,
    kserve_env_from_s3_secret,
)

pytestmark = pytest.mark.e2e

ANN = "serving.kserve.io/"


@pytest.fixture(scope="module")
def s3() -> Iterator[MotoS3]:
    with MotoS3() as server:
        yield server


def secret_env(server: MotoS3, key: tuple[str, str]) -> dict[str, str]:
    """The env KServe builds from a Secret shaped like the seed pattern."""
    return kserve_env_from_s3_secret(
        {"AWS_ACCESS_KEY_ID": key[0], "AWS_SECRET_ACCESS_KEY": key[1]},
        {ANN + "s3-endpoint": server.endpoint, ANN + "s3-usehttps": "0",
         ANN + "s3-verifyssl": "0", ANN + "s3-region": "us-east-1"},
    )


def storage_config(server: MotoS3, key: tuple[str, str]) -> str:
    return json.dumps({
        "type": "s3", "access_key_id": key[0], "secret_access_key": key[1],
        "endpoint_url": server.url, "bucket": server.bucket, "region": "us-east-1",
        "verify_ssl": "0", "anonymous": "false",
    })


def assert_downloaded(server: MotoS3, result_files: dict[str, bytes]) -> None:
    assert result_files == {server.object_key: server.object_bytes}


def test_secret_env_with_right_key_downloads(s3: MotoS3) -> None:
    env = secret_env(s3, s3.initial_key)
    assert env["AWS_ENDPOINT_URL"] == s3.url
    assert env["S3_ENDPOINT"] == s3.endpoint
    result = download(env, s3.uri)
    assert result.ok, result.output
    assert_downloaded(s3, result.files)


def test_secret_env_with_wrong_secret_is_refused(s3: MotoS3) -> None:
    result = download(secret_env(s3, (s3.initial_key[0], "not-the-secret")), s3.uri)
    assert not result.ok
    assert result.files == {}
    assert "403" in result.output or "SignatureDoesNotMatch" in result.output, result.output


def test_unknown_key_id_is_refused(s3: MotoS3) -> None:
    result = download(secret_env(s3, ("AKIAUNKNOWNUNKNOWN00", "fake")), s3.uri)
    assert not result.ok
    assert result.files == {}


def test_storage_config_with_right_key_downloads(s3: MotoS3) -> None:
    result = download({"STORAGE_CONFIG": storage_config(s3, s3.initial_key)}, s3.uri)
    assert result.ok, result.output
    assert_downloaded(s3, result.files)


def test_storage_config_overrides_env_and_is_enforced(s3: MotoS3) -> None:
    wrong = secret_env(s3, (s3.initial_key[0], "not-the-secret"))
    overridden = download({**wrong, "STORAGE_CONFIG": storage_config(s3, s3.initial_key)}, s3.uri)
    assert overridden.ok, overridden.output
    bad = download({"STORAGE_CONFIG": storage_config(s3, (s3.initial_key[0], "nope"))}, s3.uri)
    assert not bad.ok


def test_storage_config_without_type_is_ignored(s3: MotoS3) -> None:
    config = json.loads(storage_config(s3, s3.initial_key))
    del config["type"]
    wrong = secret_env(s3, (s3.initial_key[0], "not-the-secret"))
    result = download({**wrong, "STORAGE_CONFIG": json.dumps(config)}, s3.uri)
    assert not result.ok  # its right key was not used: the env's wrong key was
    assert "403" in result.output, result.output


def test_parent_env_does_not_leak_into_the_consumer(
        s3: MotoS3, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.initial_key[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.initial_key[1])
    result = download({"AWS_ENDPOINT_URL": s3.url, "S3_VERIFY_SSL": "0"}, s3.uri)
    assert not result.ok
    assert "authentication failed" in result.output, result.output


def test_storage_config_non_string_value_crashes(s3: MotoS3) -> None:
    config = json.loads(storage_config(s3, s3.initial_key))
    config["verify_ssl"] = False
    result = download({"STORAGE_CONFIG": json.dumps(config)}, s3.uri)
    assert not result.ok
    assert "str" in result.output, result.output


def test_rotation_new_key_works_and_deleted_key_is_refused() -> None:
    with MotoS3() as server:
        old = server.initial_key
        new = server.create_access_key()
        assert new[0] != old[0]
        assert server.can_read(old) and server.can_read(new)
        server.delete_access_key(old[0])
        assert not server.can_read(old)  # plain GetObject with a deleted key: refused
        assert server.can_read(new)
        assert download(secret_env(server, new), server.uri).ok
        refused = download(secret_env(server, old), server.uri)
        assert not refused.ok
        assert refused.files == {}


# -- env building, checked against pkg/credentials/s3/utils.go (no server) ----

KEYS = {"AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "sk"}


def test_env_scheme_handling() -> None:
    plain = kserve_env_from_s3_secret(KEYS, {ANN + "s3-endpoint": "minio:9000"})
    assert plain == {**KEYS, "S3_ENDPOINT": "minio:9000", "AWS_ENDPOINT_URL": "https://minio:9000"}
    http = kserve_env_from_s3_secret(KEYS, {ANN + "s3-endpoint": "http://minio:9000",
                                            ANN + "s3-usehttps": "1"})
    assert http["S3_USE_HTTPS"] == "0" and http["AWS_ENDPOINT_URL"] == "http://minio:9000"
    assert http["S3_ENDPOINT"] == "minio:9000"
    off = kserve_env_from_s3_secret(KEYS, {ANN + "s3-endpoint": "minio", ANN + "s3-usehttps": "0"})
    assert off["AWS_ENDPOINT_URL"] == "http://minio" and off["S3_USE_HTTPS"] == "0"


def test_env_annotations_map_and_empty_values_are_dropped() -> None:
    env = kserve_env_from_s3_secret(KEYS, {
        ANN + "s3-region": "eu-west-1", ANN + "s3-verifyssl": "", ANN + "s3-useanoncredential":
        "true", ANN + "s3-usevirtualbucket": "true", ANN + "s3-useaccelerate": "true",
        ANN + "s3-cabundle": "/etc/ca.crt", ANN + "s3-cabundle-configmap": "ca", "other/x": "y"})
    assert env == {**KEYS, "AWS_DEFAULT_REGION": "eu-west-1", "awsAnonymousCredential": "true",
                   "S3_USER_VIRTUAL_BUCKET": "true", "S3_USE_ACCELERATE": "true",
                   "AWS_CA_BUNDLE": "/etc/ca.crt", "AWS_CA_BUNDLE_CONFIGMAP": "ca"}


def test_env_custom_key_names_and_missing_keys() -> None:
    data = {"awsAccessKeyID": "id", "awsSecretAccessKey": "sk"}
    env = kserve_env_from_s3_secret(data, {}, access_key_name="awsAccessKeyID",
                                    secret_key_name="awsSecretAccessKey")
    assert env == KEYS
    with pytest.raises(MissingSecretKeyError):
        kserve_env_from_s3_secret({"AWS_SECRET_ACCESS_KEY": "sk"}, {})
    with pytest.raises(KeyError):
        kserve_env_from_s3_secret({"AWS_ACCESS_KEY_ID": "id"}, {})
