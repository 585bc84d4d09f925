"""The https, hdfs and oci credential types: config checks, value checks, rendering.

What KServe v0.17.0 reads for them: pkg/credentials/https/https_secret.go and
kserve-storage's ``_download_from_uri`` (env ``<https-host>-headers``, JSON),
pkg/credentials/hdfs/hdfs_secret.go and ``_load_hdfs_configuration`` (the Secret
as files), and the kubelet's pkg/credentialprovider (``.dockerconfigjson``).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import yaml

from syncer import render, scrub, secretdata
from syncer.errors import ConfigError, ValueRejected
from syncer.loader import parse
from syncer.model import Namespace, VaultData
from syncer.secretvalue import BinaryValue, PublicValue, SecretValue, encode
from tests import seeds

KEYTAB = bytes([0x05, 0x02]) + bytes(range(256))  # version 0x0502, then binary
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def cred(kind: str, keys: dict[str, str], **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": f"{kind}-cred", "type": kind,
                           "vault": {"path": f"kserve/{kind}", "keys": keys},
                           "targets": [{"namespaces": ["team-a"], "secret": f"{kind}-secret",
                                        "serviceAccount": "models"}]}
    out.update(extra)
    return out


def doc(*creds: dict[str, Any]) -> str:
    return yaml.safe_dump({"vault": {"address": "http://127.0.0.1:8200",
                                     "auth": {"method": "token", "token": "t"}},
                           "credentials": list(creds)})


def errors(*creds: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse(doc(*creds), source="c.yaml", environ={})
    return err.value.errors


HTTPS = cred("https", {"token": "bearer"}, https={"host": "Models.Example.com"})
HDFS = cred("hdfs", {"kerberosPrincipal": "principal", "kerberosKeytab": "keytab",
                     "tlsCa": "ca"},
            hdfs={"namenode": "https://nn.hdfs:9871", "rootPath": "/models", "nThreads": 4})
OCI = cred("oci", {"username": "user", "password": "pass"},
           oci={"registry": "registry.example.com:5000"})


class TestConfig:
    def test_the_three_types_validate_and_the_host_is_lower_case(self) -> None:
        config = parse(doc(HTTPS, HDFS, OCI), environ={})
        assert [c.type for c in config.credentials] == ["https", "hdfs", "oci"]
        assert config.credentials[0].https is not None
        assert config.credentials[0].https.host == "models.example.com"

    @pytest.mark.parametrize(("change", "message"), [
        ({"https": None}, "credentials[0].https: required for type https"),
        ({"https": {"host": "https://models.example.com"}}, "without a scheme"),
        ({"https": {"host": "models.example.com:8443"}}, "without the port"),
        ({"https": {"host": "models.example.com/v1"}}, "without a path"),
        ({"https": {"host": "models.example.com", "tokenHeader": "Bad Header"}},
         "not an HTTP header name"),
        ({"vault": {"path": "p", "keys": {"token": "t", "headers": "h"}}},
         "credentials[0].vault.keys: https needs headers or token"),
    ])
    def test_https_errors_name_the_field(self, change: dict[str, Any], message: str) -> None:
        found = errors({**HTTPS, **change})
        assert any(message in e for e in found), found

    @pytest.mark.parametrize(("keys", "hdfs", "message"), [
        ({"keytab": "k"}, None, "vault.keys: unknown key(s) for hdfs: ['keytab']"),
        ({}, None, "hdfs needs at least one of"),
        ({"kerberosKeytab": "k"}, None, "kerberosKeytab and kerberosPrincipal go together"),
        ({"tlsKey": "k"}, None, "vault.keys.tlsKey: needs tlsCert"),
        ({"tlsCa": "c"}, {"namenode": "https://nn:9871", "tlsSkipVerify": True},
         "hdfs.tlsSkipVerify: contradicts vault.keys.tlsCa"),
        ({"tlsCa": "c"}, {"namenode": "nn:9871"}, "is not an http(s)://host[:port] URL"),
        ({"tlsCa": "c"}, {"namenode": "http://nn:9870", "rootPath": "/a b"},
         "without whitespace"),
    ])
    def test_hdfs_errors_name_the_field(self, keys: dict[str, str], hdfs: dict[str, Any] | None,
                                        message: str) -> None:
        found = errors({**HDFS, "vault": {"path": "p", "keys": keys},
                        "hdfs": hdfs or HDFS["hdfs"]})
        assert any(message in e and e.startswith("credentials[0].") for e in found), found

    def test_hdfs_without_its_block_is_refused(self) -> None:
        assert errors({**HDFS, "hdfs": None}) == [
            "credentials[0].hdfs: required for type hdfs (hdfs.namenode names the namenode)"]

    @pytest.mark.parametrize(("keys", "oci", "message"), [
        ({"username": "u", "password": "p"}, None, "credentials[0].oci.registry: required"),
        ({"dockerConfigJson": "c"}, {"registry": "r.example.com"},
         "credentials[0].oci.registry: not with vault.keys.dockerConfigJson"),
        ({"username": "u"}, {"registry": "r.example.com"},
         "oci needs password+username or dockerConfigJson"),
        ({"username": "u", "password": "p"}, {"registry": "HTTPS://R"}, "not a registry"),
    ])
    def test_oci_errors_name_the_field(self, keys: dict[str, str], oci: dict[str, Any] | None,
                                       message: str) -> None:
        found = errors({**OCI, "vault": {"path": "p", "keys": keys}, "oci": oci})
        assert any(message in e for e in found), found

    def test_an_oci_target_has_nothing_to_roll(self) -> None:
        target = {**OCI["targets"][0], "rollout": True}
        assert errors({**OCI, "targets": [target]}) == [
            "credentials[0].targets[0].rollout: a pull secret needs no restart (the kubelet "
            "reads it at every pull)"]

    def test_a_block_of_another_type_is_refused(self) -> None:
        found = errors({**OCI, "https": {"host": "h.example.com"}})
        assert found == ["credentials[0].https: only for type https"]

    def test_only_s3_writes_a_storage_spec_entry(self) -> None:
        target = {"namespaces": ["a"], "storageConfig": {"key": "k"}}
        found = errors({**HDFS, "targets": [target]})
        assert any("targets[0].storageConfig: only type s3" in e for e in found), found

    def test_service_account_collisions_follow_what_kserve_does(self) -> None:
        same_host = {**HTTPS, "name": "other", "vault": {"path": "q", "keys": {"token": "t"}},
                     "targets": [{"namespaces": ["team-a"], "secret": "s2",
                                  "serviceAccount": "models"}]}
        found = errors(HTTPS, same_host)
        assert any("already lists a https (host models.example.com) credential" in e
                   for e in found), found
        other_host = {**same_host, "https": {"host": "other.example.com"}}
        parse(doc(HTTPS, other_host), environ={})  # one env per host: both work
        second_hdfs = {**HDFS, "name": "hdfs-2", "targets": [
            {"namespaces": ["team-a"], "secret": "s2", "serviceAccount": "models"}]}
        assert any("already lists a hdfs credential" in e for e in errors(HDFS, second_hdfs))
        second_oci = {**OCI, "name": "oci-2", "targets": [
            {"namespaces": ["team-a"], "secret": "s2", "serviceAccount": "models"}]}
        parse(doc(OCI, second_oci), environ={})  # the kubelet tries every pull secret


def check(kind: str, logical: str, value: str) -> SecretValue:
    return secretdata.checked(kind, logical, SecretValue(value), f"vault.keys.{logical}")


class TestValues:
    @pytest.mark.parametrize(("kind", "logical", "value", "message"), [
        ("https", "headers", "[1]", "is not a JSON object"),
        ("https", "headers", "{}", "holds no header"),
        ("https", "headers", '{"Bad Name": "x"}', "not an HTTP header name"),
        ("https", "headers", '{"X-Key": "a\\nb"}', "not a one-line string"),
        ("https", "headers", '{"X-Key": 3}', "not a one-line string"),
        ("https", "token", " padded", "leading or trailing whitespace"),
        ("hdfs", "tlsCa", "MIIB", "is not PEM"),
        ("hdfs", "kerberosKeytab", "not base64!", "is not base64"),
        ("hdfs", "kerberosKeytab", base64.b64encode(b"\x04xx").decode(), "version byte 0x05"),
        ("oci", "dockerConfigJson", '{"auths": {}}', 'no "auths"'),
        ("oci", "dockerConfigJson", '{"auths": {"r": {"email": "e"}}}', "without auth or"),
        ("oci", "username", "a:b", "contains ':'"),
    ])
    def test_a_bad_value_is_refused_without_showing_it(self, kind: str, logical: str,
                                                       value: str, message: str) -> None:
        with pytest.raises(ValueRejected) as err:
            check(kind, logical, value)
        assert message in str(err.value)
        assert value not in str(err.value) or len(value) < 4

    def test_pem_and_headers_keep_their_line_breaks(self) -> None:
        assert check("hdfs", "tlsCert", PEM).reveal() == PEM
        assert check("https", "headers", '{\n "X-Key": "v"\n}\n').reveal().endswith("\n")

    def test_a_keytab_is_decoded_from_base64_even_when_wrapped(self) -> None:
        text = base64.encodebytes(KEYTAB).decode()  # wrapped at 76 columns
        value = check("hdfs", "kerberosKeytab", text)
        assert isinstance(value, BinaryValue)
        # Written as the keytab's bytes; the digest matches what an observed Secret holds.
        assert base64.b64decode(encode(value)) == KEYTAB
        assert value.sha == scrub.digest(KEYTAB)


def rendered(entry: dict[str, Any], **values: str) -> render.Rendered:
    config = parse(doc(entry), environ={})
    key = ("secret", entry["vault"]["path"], 2, None)
    data = VaultData(mount="secret", path=entry["vault"]["path"], version=1,
                     data={k: SecretValue(v) for k, v in values.items()})
    return render.render(config, namespaces={"team-a": Namespace("team-a", {})},
                         vault={key: data})


def secret_data(out: render.Rendered, name: str) -> dict[str, bytes]:
    secret = out.secrets[("team-a", name)]
    return {k: base64.b64decode(encode(kv.value)) for k, kv in secret.keys.items()}


class TestRender:
    def test_https_writes_the_host_and_the_headers_kserve_storage_loads(self) -> None:
        token = seeds.fake("unit-https-token")
        out = rendered(HTTPS, bearer=token)
        assert not out.errors
        data = secret_data(out, "https-secret")
        assert data["https-host"] == b"models.example.com"
        assert json.loads(data["headers"]) == {"Authorization": f"Bearer {token}"}
        assert out.service_accounts[("team-a", "models")].secrets == {"https-secret"}

    def test_the_host_is_not_scrubbed_from_logs_but_the_token_is(self) -> None:
        token = seeds.fake("unit-https-token")
        out = rendered(HTTPS, bearer=token)
        host = out.secrets[("team-a", "https-secret")].keys["https-host"].value
        assert isinstance(host, PublicValue) and repr(host) == "models.example.com"
        assert scrub.scrub(f"GET models.example.com with {token}") == (
            f"GET models.example.com with <redacted sha256:{scrub.digest(token.encode())}>")

    def test_hdfs_writes_the_files_kserve_mounts(self) -> None:
        out = rendered(HDFS, principal="kserve@EXAMPLE.COM", keytab=base64.b64encode(
            KEYTAB).decode(), ca=PEM)
        assert not out.errors
        assert secret_data(out, "hdfs-secret") == {
            "HDFS_NAMENODE": b"https://nn.hdfs:9871", "HDFS_ROOTPATH": b"/models",
            "N_THREADS": b"4", "KERBEROS_PRINCIPAL": b"kserve@EXAMPLE.COM",
            "KERBEROS_KEYTAB": KEYTAB, "TLS_CA": PEM.encode()}

    def test_a_held_hdfs_entry_holds_every_key_it_writes(self) -> None:
        out = rendered(HDFS, principal="p", keytab="bad base64!", ca=PEM)
        assert out.errors and "vault.keys.kerberosKeytab" in out.errors[0].reason
        held = out.secrets[("team-a", "hdfs-secret")].held_keys
        assert held == {"HDFS_NAMENODE", "HDFS_ROOTPATH", "N_THREADS", "KERBEROS_PRINCIPAL",
                        "KERBEROS_KEYTAB", "TLS_CA"}

    def test_oci_writes_a_docker_config_listed_as_a_pull_secret(self) -> None:
        password = seeds.fake("unit-oci-password")
        out = rendered(OCI, user="robot", **{"pass": password})
        secret = out.secrets[("team-a", "oci-secret")]
        assert secret.type == "kubernetes.io/dockerconfigjson"
        config = json.loads(secret_data(out, "oci-secret")[".dockerconfigjson"])
        entry = config["auths"]["registry.example.com:5000"]
        assert base64.b64decode(entry["auth"]).decode() == f"robot:{password}"
        assert (entry["username"], entry["password"]) == ("robot", password)
        account = out.service_accounts[("team-a", "models")]
        assert account.pull_secrets == {"oci-secret"} and not account.secrets

    def test_a_whole_docker_config_from_vault_is_written_as_it_is(self) -> None:
        whole = json.dumps({"auths": {"quay.io/team": {"auth": base64.b64encode(
            seeds.fake("unit-oci-auth").encode()).decode()}}})
        entry = {**OCI, "vault": {"path": "kserve/oci", "keys": {"dockerConfigJson": "cfg"}},
                 "oci": None}
        out = rendered(entry, cfg=whole)
        assert secret_data(out, "oci-secret")[".dockerconfigjson"] == whole.encode()

    def test_a_failed_oci_entry_holds_its_pull_secret_entry(self) -> None:
        out = rendered(OCI, user="a:b", **{"pass": "p"})
        account = out.service_accounts[("team-a", "models")]
        assert account.held_pull_secrets == {"oci-secret"} and not account.pull_secrets


def test_an_https_host_starting_with_a_digit_is_warned_about() -> None:
    from syncer import settings
    ip = parse(doc({**HTTPS, "https": {"host": "10.0.0.7"}}), environ={})
    assert any("credentials[0].https.host: '10.0.0.7' starts with a digit" in w
               for w in settings.warnings(ip))
    assert not settings.warnings(parse(doc(HTTPS), environ={}))
