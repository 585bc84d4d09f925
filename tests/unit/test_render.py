"""Render: the objects KServe reads, from config + Vault data. Table-driven, no I/O.

Checked against KServe aaac4e294: pkg/credentials/s3/s3_secret.go (annotation ->
env), pkg/credentials/service_account_credentials.go (provider order),
python/storage/kserve_storage/kserve_storage.py (storage spec JSON).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from syncer import diff, kserve, render
from syncer.loader import parse
from syncer.model import (
    ANN_MANAGED_KEYS,
    ANN_OWNERSHIP,
    Namespace,
    ObservedSecret,
    VaultData,
    VaultFailure,
)
from syncer.secretvalue import SecretValue
from tests import seeds

SEED_PATTERN = Path(__file__).resolve().parents[1] / "fixtures" / "seed-pattern.yaml"

SEED_CONFIG = """
vault: {address: "http://127.0.0.1:8200", auth: {method: token, token: t}}
credentials:
  - name: s3
    type: s3
    vault: {path: kserve/s3, keys: {accessKeyId: access_key, secretAccessKey: secret_key}}
    s3: {endpoint: s3.amazonaws.com, useHttps: true, region: us-east-1}
    targets:
      - {namespaces: [team-a], secret: s3-secret, serviceAccount: s3-sa}
  - name: hf
    type: hf
    vault: {path: kserve/hf, keys: {token: token}}
    targets:
      - {namespaces: [team-a], secret: storage-config, serviceAccount: hfserviceacc}
"""


def vault_data(path: str, **values: Any) -> VaultData:
    strings = {k: SecretValue(v) for k, v in values.items() if isinstance(v, str)}
    others = frozenset(k for k, v in values.items() if not isinstance(v, str))
    return VaultData(mount="secret", path=path, version=3, data=strings,
                     non_string_keys=others)


def namespaces(*names: str, **labels: dict[str, str]) -> dict[str, Namespace]:
    out = {n: Namespace(n, {}) for n in names}
    out.update({n: Namespace(n, lab) for n, lab in labels.items()})
    return out


def seed_render() -> render.Rendered:
    config = parse(SEED_CONFIG)
    return render.render(config, namespaces=namespaces("team-a"), vault={
        ("secret", "kserve/s3", 2, None): vault_data(
            "kserve/s3", access_key=seeds.AWS_ACCESS_KEY_ID,
            secret_key=seeds.AWS_SECRET_ACCESS_KEY),
        ("secret", "kserve/hf", 2, None): vault_data("kserve/hf", token=seeds.HF_TOKEN),
    })


def test_seed_pattern_is_reproduced() -> None:
    """Our output for the seed's inputs equals tests/fixtures/seed-pattern.yaml, the
    hand-written objects from KServe's docs that this project automates."""
    seed = {(d["kind"], d["metadata"]["name"]): d
            for d in yaml.safe_load_all(SEED_PATTERN.read_text())}
    assert len(seed) == 4
    out = seed_render()
    assert not out.errors
    for (kind, name), doc in seed.items():
        if kind == "Secret":
            ours = out.secrets[("team-a", name)]
            assert {k: kv.value.reveal() for k, kv in ours.keys.items()} == doc["stringData"]
            assert ours.annotations == (doc["metadata"].get("annotations") or {})
        else:
            ours_sa = out.service_accounts[("team-a", name)]
            assert sorted(ours_sa.secrets) == [s["name"] for s in doc["secrets"]]


def test_shared_secret_is_owned_key_by_key() -> None:
    """storage-config gathers keys from two credentials and is written key by key:
    against a hand-made storage-config, only our keys are sent and recorded."""
    config = parse(SEED_CONFIG.replace("serviceAccount: s3-sa}",
                                       "serviceAccount: s3-sa, storageConfig: {key: m}}"))
    out = render.render(config, namespaces=namespaces("team-a"), vault={
        ("secret", "kserve/s3", 2, None): vault_data("kserve/s3", access_key="AKIA0001",
                                                     secret_key=seeds.fake("shared-sk")),
        ("secret", "kserve/hf", 2, None): vault_data("kserve/hf", token=seeds.HF_TOKEN)})
    shared = out.secrets[("team-a", "storage-config")]
    assert shared.shared and not out.secrets[("team-a", "s3-secret")].shared
    assert {k: kv.credential for k, kv in shared.keys.items()} == {"m": "s3", "HF_TOKEN": "hf"}
    theirs = ObservedSecret(namespace="team-a", name="storage-config", uid="u",
                            resource_version="1", type="Opaque", labels={}, annotations={},
                            key_digests={"theirs": "0123456789abcdef"})
    [patch] = diff.diff_secret(shared, theirs, now="2026-11-25T00:00:00Z")
    assert patch.verb == "patch" and patch.body is not None
    assert set(patch.body["data"]) == set(shared.keys)
    annotations = patch.body["metadata"]["annotations"]
    assert annotations[ANN_MANAGED_KEYS] == ",".join(sorted(shared.keys))
    assert annotations[ANN_OWNERSHIP] == "keys"


ANNOTATION_CASES: list[tuple[dict[str, Any], dict[str, str]]] = [
    ({"endpoint": "minio.minio:9000", "useHttps": False},
     {"s3-endpoint": "minio.minio:9000", "s3-usehttps": "0"}),
    ({"verifySsl": False, "region": "eu-west-1"},
     {"s3-verifyssl": "0", "s3-region": "eu-west-1"}),
    # KServe compares these three with "true": "1" would be ignored.
    ({"useAnonymousCredential": True, "useVirtualBucket": True, "useAccelerate": False},
     {"s3-useanoncredential": "true", "s3-usevirtualbucket": "true",
      "s3-useaccelerate": "false"}),
    ({"caBundle": "/etc/ssl/ca.crt", "caBundleConfigMap": "s3-ca"},
     {"s3-cabundle": "/etc/ssl/ca.crt", "s3-cabundle-configmap": "s3-ca"}),
    ({}, {}),
]


@pytest.mark.parametrize(("s3", "expected"), ANNOTATION_CASES)
def test_s3_annotations(s3: dict[str, Any], expected: dict[str, str]) -> None:
    from syncer.settings import S3Options
    got = kserve.s3_annotations(S3Options.model_validate(s3))
    assert got == {f"serving.kserve.io/{k}": v for k, v in expected.items()}


def one_s3(s3: str = "{}", target: str = "{namespaces: [a], secret: s3-secret}",
           kserve: str = "") -> str:
    return f"""
vault: {{address: "http://v:8200", auth: {{method: token, token: t}}}}
{kserve}
credentials:
  - name: s3
    type: s3
    vault: {{path: p/s3, keys: {{accessKeyId: ak, secretAccessKey: sk}}}}
    s3: {s3}
    targets: [{target}]
"""


def render_one(text: str, ns: dict[str, Namespace] | None = None, **values: Any
               ) -> render.Rendered:
    config = parse(text)
    data = vault_data("p/s3", **(values or {"ak": "AK1", "sk": seeds.fake("render-sk")}))
    return render.render(config, namespaces=ns or namespaces("a", "b"),
                         vault={("secret", "p/s3", 2, None): data})


def test_storage_spec_entry_is_all_strings_with_scheme() -> None:
    out = render_one(one_s3(
        s3="{endpoint: minio.minio:9000, useHttps: false, region: us-east-1, verifySsl: false}",
        target="{namespaces: [a], storageConfig: {key: team-a, bucket: models, default: true}}"))
    secret = out.secrets[("a", "storage-config")]
    assert secret.shared and set(secret.keys) == {"team-a", "default", "default_s3"}
    spec = json.loads(secret.keys["team-a"].value.reveal())
    assert all(isinstance(v, str) for v in spec.values())
    assert spec["type"] == "s3" and spec["bucket"] == "models"
    assert spec["endpoint_url"] == "http://minio.minio:9000"
    assert spec["verify_ssl"] == "0" and spec["region"] == "us-east-1"
    assert spec["access_key_id"] == "AK1"


def test_key_names_follow_inferenceservice_config() -> None:
    out = render_one(one_s3(kserve="kserve: {s3AccessKeyIDName: awsAccessKeyID, "
                                   "s3SecretAccessKeyName: awsSecretAccessKey}"))
    assert set(out.secrets[("a", "s3-secret")].keys) == {"awsAccessKeyID", "awsSecretAccessKey"}


def test_namespace_selector_and_missing_namespace() -> None:
    text = one_s3(target="{namespaceSelector: {matchLabels: {serving: 'yes'}}, secret: s3-secret}")
    ns = {"a": Namespace("a", {"serving": "yes"}),
          "b": Namespace("b", {"serving": "no"}),
          "c": Namespace("c", {"serving": "yes"}, terminating=True)}
    assert set(render_one(text, ns).secrets) == {("a", "s3-secret")}
    out = render_one(one_s3(target="{namespaces: [a, gone], secret: s3-secret}"))
    assert set(out.secrets) == {("a", "s3-secret")}
    assert any("namespace 'gone' does not exist" in e.reason for e in out.errors)


BAD_VALUES: list[tuple[dict[str, Any], str]] = [
    ({"ak": "AK1"}, "vault.keys.secretAccessKey: key 'sk' at secret/p/s3@3 is missing"),
    ({"ak": "AK1", "sk": ""}, "is empty"),
    ({"ak": "AK1", "sk": 12345}, "is not a string"),
    ({"ak": "AK1 ", "sk": "x" * 10}, "has leading or trailing whitespace"),
    ({"ak": "AK1", "sk": "line\n"}, "has leading or trailing whitespace"),
    ({"ak": "AK1", "sk": "x" * (1024 * 1024 + 1)}, "over the 1 MiB Secret limit"),
]


@pytest.mark.parametrize(("values", "expected"), BAD_VALUES)
def test_bad_values_hold_the_entry(values: dict[str, Any], expected: str) -> None:
    """A bad value holds the whole entry: nothing partial is rendered."""
    out = render_one(one_s3(target="{namespaces: [a], secret: s3-secret, serviceAccount: sa, "
                                   "storageConfig: {key: k}}"), **values)
    assert [e.credential for e in out.errors] == ["s3"]
    assert expected in out.errors[0].reason
    secret = out.secrets[("a", "s3-secret")]
    assert not secret.keys and secret.held_keys == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    assert not out.secrets[("a", "storage-config")].keys
    assert out.service_accounts[("a", "sa")].held_secrets == {"s3-secret"}


def test_vault_failure_holds_only_that_entry() -> None:
    config = parse(SEED_CONFIG)
    out = render.render(config, namespaces=namespaces("team-a"), vault={
        ("secret", "kserve/s3", 2, None):
            VaultFailure("read secret/kserve/s3: HTTP 503 (Vault is sealed)"),
        ("secret", "kserve/hf", 2, None): vault_data("kserve/hf", token=seeds.HF_TOKEN),
    })
    assert [e.credential for e in out.errors] == ["s3"]
    assert out.secrets[("team-a", "storage-config")].keys
    assert not out.secrets[("team-a", "s3-secret")].keys


def test_gcs_and_azure_keys() -> None:
    text = """
vault: {address: "http://v:8200", auth: {method: token, token: t}}
credentials:
  - name: gcs
    type: gcs
    vault: {path: p/gcs, keys: {credentials: json}}
    targets: [{namespaces: [a], secret: gcs-secret}]
  - name: az
    type: azure
    vault: {path: p/az, keys: {clientId: id, clientSecret: sec, tenantId: ten}}
    targets: [{namespaces: [a], secret: az-secret}]
"""
    config = parse(text)
    out = render.render(config, namespaces=namespaces("a"), vault={
        ("secret", "p/gcs", 2, None): vault_data("p/gcs", json='{"type": "service_account"}\n'),
        ("secret", "p/az", 2, None): vault_data("p/az", id="i", sec="s", ten="t"),
    })
    assert not out.errors
    assert set(out.secrets[("a", "gcs-secret")].keys) == {"gcloud-application-credentials.json"}
    assert set(out.secrets[("a", "az-secret")].keys) == {
        "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID"}
    bad = render.render(config, namespaces=namespaces("a"), vault={
        ("secret", "p/gcs", 2, None): vault_data("p/gcs", json="not json"),
        ("secret", "p/az", 2, None): vault_data("p/az", id="i", sec="s", ten="t"),
    })
    assert any("not valid JSON" in e.reason for e in bad.errors)


def test_each_vault_path_read_once() -> None:
    text = SEED_CONFIG.replace("kserve/hf", "kserve/s3").replace("{token: token}",
                                                                  "{token: access_key}")
    assert render.distinct_sources(parse(text)) == [("secret", "kserve/s3", 2, None)]


def test_redacted_reprs() -> None:
    out = seed_render()
    text = repr(out)
    assert seeds.AWS_SECRET_ACCESS_KEY not in text and seeds.HF_TOKEN not in text
    assert "<redacted sha256:" in text


VALUES = st.one_of(st.text(max_size=40), st.integers(), st.booleans(), st.none(),
                   st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2))


@hsettings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["ak", "sk", "other", ""]), VALUES, max_size=4),
       st.sampled_from(["", "s3: {endpoint: 'h:1', useHttps: false}", "s3: {region: r}"]))
def test_fuzzed_vault_data_never_renders_partial(values: dict[str, Any], s3: str) -> None:
    """Whatever Vault holds, render either writes every key of the entry with a
    non-empty, unpadded string value, or holds the entry and says why."""
    text = one_s3(target="{namespaces: [a], secret: s3-secret, serviceAccount: sa, "
                         "storageConfig: {key: k}}").replace("s3: {}", s3 or "s3: {}")
    strings = {k: SecretValue(v) for k, v in values.items() if isinstance(v, str)}
    others = frozenset(k for k, v in values.items() if not isinstance(v, str))
    out = render.render(parse(text), namespaces=namespaces("a"), vault={
        ("secret", "p/s3", 2, None): VaultData(mount="secret", path="p/s3", version=1,
                                               data=strings, non_string_keys=others)})
    secret = out.secrets[("a", "s3-secret")]
    if out.errors:
        assert not secret.keys and not out.secrets[("a", "storage-config")].keys
        assert all("credentials[0] (s3)" in e.reason for e in out.errors)
    else:
        assert set(secret.keys) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
        for kv in secret.keys.values():
            text_value = kv.value.reveal()
            assert text_value and text_value == text_value.strip()
        spec = json.loads(out.secrets[("a", "storage-config")].keys["k"].value.reveal())
        assert all(isinstance(v, str) for v in spec.values())


def test_selector_matching_nothing_is_a_warning() -> None:
    text = one_s3(target="{namespaceSelector: {matchLabels: {team: ghost}}, secret: s3-secret}")
    out = render_one(text)
    assert not out.secrets and not out.errors
    assert out.warnings == ["credentials[0].targets[0].namespaceSelector (s3): matches no "
                            "namespace {'team': 'ghost'}"]


def test_selector_matching_nothing_fails_the_entry_when_prune_is_on() -> None:
    """A typo in a selector must not read as "remove this credential everywhere"."""
    text = one_s3(target="{namespaceSelector: {matchLabels: {servng: 'true'}}, "
                         "secret: s3-secret}") + "sync: {prune: true}\n"
    out = render_one(text)
    assert not out.warnings
    [error] = out.errors
    assert error.credential == "s3" and error.reason.endswith("; prune is held")
    assert "matches no namespace {'servng': 'true'}" in error.reason


CLUSTER_CONFIG = {
    "credentials": json.dumps({"storageSpecSecretName": "team-storage",
                               "storageSecretNameAnnotation": "example.com/storage",
                               "s3": {"s3AccessKeyIDName": "awsAccessKeyID",
                                      "s3SecretAccessKeyName": "awsSecretAccessKey"},
                               "gcs": {"gcsCredentialFileName": ""}}),
    "storageInitializer": json.dumps({"caBundleVolumeMountPath": "/etc/kserve-ca"}),
    "ingress": "not json at all",
}


def test_cluster_kserve_config_fills_what_the_config_leaves_out() -> None:
    config = parse(one_s3(s3="{caBundle: /etc/ssl/minio/ca.crt, caBundleConfigMap: ca}",
                          kserve="kserve: {s3AccessKeyIDName: MY_KEY_ID}",
                          target="{namespaces: [a], storageConfig: {key: k}}"))
    cluster = kserve.cluster_settings(CLUSTER_CONFIG)
    assert cluster == {"s3_access_key_id_name": "awsAccessKeyID",
                       "s3_secret_access_key_name": "awsSecretAccessKey",
                       "storage_spec_secret_name": "team-storage",
                       "storage_secret_name_annotation": "example.com/storage",
                       "ca_bundle_mount_path": "/etc/kserve-ca"}  # empty gcs name: ignored
    merged, drift = kserve.effective(config, cluster)
    assert merged.kserve.s3_access_key_id_name == "MY_KEY_ID"  # ours is kept ...
    assert drift == ["kserve.s3AccessKeyIDName is 'MY_KEY_ID', but the cluster's "
                     "inferenceservice-config has credentials.s3.s3AccessKeyIDName = "
                     "'awsAccessKeyID': KServe uses the latter"]  # ... and reported
    assert merged.kserve.s3_secret_access_key_name == "awsSecretAccessKey"
    assert merged.kserve.storage_spec_secret_name == "team-storage"
    out = render.render(merged, namespaces=namespaces("a"), vault={
        ("secret", "p/s3", 2, None): vault_data("p/s3", ak="AKIA0002",
                                                sk=seeds.fake("cluster-sk"))})
    [(ref, secret)] = out.secrets.items()
    assert ref == ("a", "team-storage")
    spec = json.loads(secret.keys["k"].value.reveal())
    # On the storage-spec path KServe mounts the CA where its config says.
    assert spec["ca_bundle"] == "/etc/kserve-ca/ca.crt"
    assert spec["cabundle_configmap"] == "ca"
