"""Config loading: every error names the entry and field; env overrides as the Vault CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from syncer import fields
from syncer.errors import ConfigError
from syncer.loader import parse
from tests.unit.configs import cfg, errors_of, s3_cred

ROOT = Path(__file__).resolve().parents[2]


class TestValid:
    def test_example_config_validates(self) -> None:
        config = parse((ROOT / "config" / "example.yaml").read_text(),
                       environ={"VAULT_TOKEN": "x"})
        assert [c.name for c in config.credentials] == ["team-a-s3", "hf"]

    def test_defaults(self) -> None:
        config = parse(cfg())
        assert config.sync.interval == 60 and config.sync.jitter == 0.1
        assert config.sync.prune is False
        assert config.vault.kv.mount == "secret" and config.vault.kv.version == 2
        assert config.kserve.s3_access_key_id_name == "AWS_ACCESS_KEY_ID"
        assert config.kserve.storage_spec_secret_name == "storage-config"

    @pytest.mark.parametrize(("text", "seconds"), [
        ("60s", 60), ("5m", 300), ("1h30m", 5400), ("250ms", 0.25), (30, 30)])
    def test_durations(self, text: Any, seconds: float) -> None:
        doc = yaml.safe_load(cfg())
        doc["vault"]["timeout"] = text
        assert parse(yaml.safe_dump(doc)).vault.timeout == seconds

    def test_scheme_in_endpoint_becomes_use_https(self) -> None:
        config = parse(cfg([s3_cred(s3={"endpoint": "http://minio.minio.svc:9000/"})]))
        s3 = config.credentials[0].s3
        assert s3 is not None and s3.endpoint == "minio.minio.svc:9000"
        assert s3.use_https is False

    def test_env_overrides_file(self) -> None:
        config = parse(cfg(), environ={"VAULT_ADDR": "https://v:8200", "VAULT_NAMESPACE": "ns1",
                                       "VAULT_CACERT": "/ca.pem", "VAULT_TOKEN": "from-env"})
        assert config.vault.address == "https://v:8200"
        assert config.vault.namespace == "ns1" and config.vault.ca_cert == "/ca.pem"
        assert config.vault.auth.token is not None
        assert config.vault.auth.token.get_secret_value() == "from-env"
        assert "from-env" not in repr(config)

    def test_hf_into_storage_config_and_s3_entry_share_the_secret(self) -> None:
        hf = {"name": "hf", "type": "hf", "vault": {"path": "p/hf", "keys": {"token": "t"}},
              "targets": [{"namespaces": ["team-a"], "secret": "storage-config"}]}
        s3 = s3_cred(targets=[{"namespaces": ["team-a"],
                               "storageConfig": {"key": "team-a", "bucket": "m"}}])
        config = parse(cfg([s3, hf]))
        [s3_target], [hf_target] = config.credentials[0].targets, config.credentials[1].targets
        assert config.storage_secret_name(s3_target) == hf_target.secret == "storage-config"


def gcs_cred(name: str, secret: str, sa: str = "sa") -> dict[str, Any]:
    return {"name": name, "type": "gcs",
            "vault": {"path": f"p/{name}", "keys": {"credentials": "json"}},
            "targets": [{"namespaces": ["team-a"], "secret": secret, "serviceAccount": sa}]}


BAD: list[tuple[str, Any, str]] = [
    ("an Azure access token, which kserve-storage never reads", [{
        "name": "az", "type": "azure",
        "vault": {"path": "p/az", "keys": {"accessToken": "t", "tenantId": "x"}},
        "targets": [{"namespaces": ["a"], "secret": "az"}]}],
     "credentials[0].vault.keys.accessToken: KServe's storage initializer never reads"),
    ("two GCS credentials on one ServiceAccount", [gcs_cred("g1", "gcs-1"),
                                                   gcs_cred("g2", "gcs-2")],
     "credentials[1].targets[0].serviceAccount: 'sa' already lists a gcs credential"),
    ("two S3 Secrets on one ServiceAccount", [
        s3_cred(), s3_cred(name="other", targets=[{"namespaces": ["team-a"],
                                                   "secret": "s3-other",
                                                   "serviceAccount": "s3-sa"}])],
     "credentials[1].targets[0].serviceAccount: 's3-sa' already lists a s3 credential"),
    ("S3 Secrets on one ServiceAccount through a selector", [
        s3_cred(), s3_cred(name="other", targets=[{"namespaceSelector": {
            "matchLabels": {"x": "y"}}, "secret": "s3-other", "serviceAccount": "s3-sa"}])],
     "credentials[1].targets[0].serviceAccount: 's3-sa' already lists a s3 credential"),
    ("storageConfig.secretName is another entry's Secret", [
        s3_cred(), s3_cred(name="spec", vault={"path": "p/x", "keys": {
            "accessKeyId": "a", "secretAccessKey": "b"}}, targets=[{
                "namespaces": ["team-a"], "storageConfig": {"key": "k",
                                                            "secretName": "s3-secret"}}])],
     "credentials[0].targets[0].secret: 's3-secret' is a storage-spec Secret"),
    ("unknown field", [s3_cred(targets=[{"namespaces": ["a"], "secret": "s",
                                         "serviceAcount": "x"}])],
     "credentials[0].targets[0].serviceAcount: unknown field"),
    ("missing vault path", [s3_cred(vault={"keys": {"accessKeyId": "a",
                                                    "secretAccessKey": "b"}})],
     "credentials[0].vault.path: required field missing"),
    ("bad type", [s3_cred(type="ftp")], "credentials[0].type:"),
    ("s3 keys", [s3_cred(vault={"path": "p", "keys": {"accessKeyId": "a"}})],
     "credentials[0].vault.keys: s3 needs exactly"),
    ("bad namespace", [s3_cred(targets=[{"namespaces": ["Team_A"], "secret": "s"}])],
     "credentials[0].targets[0].namespaces[0]:"),
    ("bad secret name", [s3_cred(targets=[{"namespaces": ["a"], "secret": "S3!"}])],
     "credentials[0].targets[0].secret:"),
    ("no namespaces", [s3_cred(targets=[{"secret": "s"}])],
     "credentials[0].targets[0]: set exactly one of namespaces or namespaceSelector"),
    ("sa without secret", [s3_cred(targets=[{"namespaces": ["a"], "serviceAccount": "sa",
                                             "storageConfig": {"key": "k"}}])],
     "credentials[0].targets[0].serviceAccount: needs secret"),
    ("storageConfig for hf", [{"name": "hf", "type": "hf",
                               "vault": {"path": "p", "keys": {"token": "t"}},
                               "targets": [{"namespaces": ["a"], "storageConfig": {"key": "k"}}]}],
     "credentials[0].targets[0].storageConfig: only type s3"),
    ("s3 options on hf", [{"name": "hf", "type": "hf", "s3": {"region": "x"},
                           "vault": {"path": "p", "keys": {"token": "t"}},
                           "targets": [{"namespaces": ["a"], "secret": "hf"}]}],
     "credentials[0].s3: only for type s3"),
    ("duplicate names", [s3_cred(), s3_cred(targets=[{"namespaces": ["b"], "secret": "x"}])],
     "credentials[1].name: 'team-a-s3' already used by credentials[0]"),
    ("same secret twice", [s3_cred(), s3_cred(name="other")],
     "credentials[1].targets[0]: writes Secret 's3-secret' that credentials[0].targets[0]"),
    ("s3 into storage-config", [s3_cred(targets=[{"namespaces": ["a"],
                                                  "secret": "storage-config"}])],
     "credentials[0].targets[0].secret: 'storage-config' is a storage-spec Secret"),
    ("two defaults", [
        s3_cred(targets=[{"namespaces": ["a"], "storageConfig": {"key": "x", "default": True}}]),
        s3_cred(name="b", targets=[{"namespaces": ["a"],
                                    "storageConfig": {"key": "y", "default": True}}])],
     "writes key 'default' of Secret 'storage-config'"),
    ("scheme contradicts", [s3_cred(s3={"endpoint": "https://h", "useHttps": False})],
     "credentials[0].s3.endpoint: scheme https:// contradicts useHttps"),
    ("azure shape", [{"name": "az", "type": "azure",
                      "vault": {"path": "p", "keys": {"clientId": "a"}},
                      "targets": [{"namespaces": ["a"], "secret": "az"}]}],
     "credentials[0].vault.keys: azure needs"),
]


class TestInvalid:
    @pytest.mark.parametrize(("case", "creds", "expected"), BAD, ids=[b[0] for b in BAD])
    def test_error_names_entry_and_field(self, case: str, creds: Any, expected: str) -> None:
        errors = errors_of(cfg(creds))
        assert any(expected in e for e in errors), errors

    def test_interval_has_a_floor(self) -> None:
        assert errors_of(cfg(sync={"interval": "500ms"})) == [
            "sync.interval: must be at least 1s (each cycle reads Vault and lists the cluster)"]
        assert parse(cfg(sync={"interval": "1s"}), environ={}).sync.interval == 1.0

    def test_field_errors_and_collisions_together(self) -> None:
        """One run of validate says everything: a bad field in one entry and two
        other entries writing the same Secret."""
        errors = errors_of(cfg([s3_cred(type="ftp"), s3_cred(name="b"), s3_cred(name="c")]))
        assert any(e.startswith("credentials[0].type") for e in errors), errors
        assert any(e.startswith("credentials[2].targets[0]: writes Secret 's3-secret'")
                   for e in errors), errors

    def test_all_errors_at_once(self) -> None:
        errors = errors_of(cfg([s3_cred(type="ftp"), s3_cred(name="Bad Name")]))
        assert len(errors) >= 2

    @pytest.mark.parametrize(("text", "expected"), [
        ("vault: [", "line 1, column"),
        ("", "the file is empty"),
        ("- a\n- b\n", "top level must be a mapping"),
        (cfg(sync={"interval": "soon"}), "sync.interval: invalid duration"),
        (cfg(sync={"jitter": "150%"}), "sync.jitter: must be between"),
        (cfg(vault={"address": "vault:8200"}), "vault.address: 'vault:8200' must be"),
        (cfg(vault={"address": "http://v", "auth": {"method": "kubernetes"}}),
         "vault.auth.role: required for the kubernetes auth method"),
        (cfg(vault={"address": "http://v", "auth": {"method": "approle", "roleId": "r"}}),
         "vault.auth.secretIdFile: required"),
    ])
    def test_file_level_errors(self, text: str, expected: str) -> None:
        errors = errors_of(text)
        assert any(expected in e for e in errors), errors

    def test_values_never_echoed(self) -> None:
        text = cfg(vault={"address": "http://v", "auth": {"method": "token",
                                                          "token": {"nested": "sekrit-xyz"}}})
        errors = errors_of(text)
        assert not any("sekrit-xyz" in e for e in errors)


@hsettings(max_examples=150, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.sampled_from(
                        ["vault", "credentials", "name", "type", "targets", "secret",
                         "namespaces", "keys", "path", "s3", "sync", "address"]),
                        inner, max_size=4), max_leaves=20))
def test_fuzzed_config_never_tracebacks(doc: Any) -> None:
    """Whatever the YAML holds, parse() returns a Config or raises ConfigError."""
    try:
        parse(yaml.safe_dump(doc))
    except ConfigError as exc:
        assert exc.errors and all(isinstance(e, str) and e for e in exc.errors)


def test_duration_parser_rejects_garbage() -> None:
    for bad in ("", "5", "5 m", "-5s", "5x", True, None):
        with pytest.raises(ValueError):
            fields.parse_duration(bad)
