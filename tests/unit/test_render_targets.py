"""Render, target by target: which Vault paths are read, which objects several
credentials share, what a failed credential holds, and the exact desired objects.
Table-driven, no I/O.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from syncer import render
from syncer.loader import parse
from syncer.model import (
    DesiredServiceAccount,
    KeyValue,
    Namespace,
    VaultData,
    VaultFailure,
)
from syncer.secretvalue import SecretValue

NS = {"a": Namespace("a", {})}


def config(*creds: dict[str, Any], **top: Any) -> Any:
    return parse(yaml.safe_dump({"vault": {"address": "http://127.0.0.1:8200",
                                           "auth": {"method": "token", "token": "t"}},
                                 "credentials": list(creds), **top}), environ={})


def cred(name: str, kind: str, path: str, keys: dict[str, str], *targets: dict[str, Any],
         **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": kind, "vault": {"path": path, "keys": keys, **extra},
            "targets": list(targets) or [{"namespaces": ["a"], "secret": f"{name}-secret"}]}


def hf(name: str, path: str, **vault: Any) -> dict[str, Any]:
    return cred(name, "hf", path, {"token": "t"}, **vault)


def data(path: str, **values: str) -> VaultData:
    return VaultData(mount="secret", path=path, version=3,
                     data={k: SecretValue(v) for k, v in values.items()})


SOURCES = config(hf("latest", "b/x"), hf("again", "b/x"), hf("pinned", "b/x", version=3),
                 hf("other-mount", "a/y", mount="zz", kvVersion=1),
                 hf("older-kv", "c/z", kvVersion=1))


@pytest.mark.parametrize(("only", "expected"), [
    (None, [("secret", "b/x", 2, None), ("secret", "b/x", 2, 3), ("secret", "c/z", 1, None),
            ("zz", "a/y", 1, None)]),
    (["pinned", "other-mount"], [("secret", "b/x", 2, 3), ("zz", "a/y", 1, None)]),
    ([], []),
])
def test_each_vault_path_is_read_once_in_order(only: list[str] | None,
                                               expected: list[render.SourceKey]) -> None:
    assert render.distinct_sources(SOURCES, only) == expected


S3_KEYS = {"accessKeyId": "ak", "secretAccessKey": "sk"}
S3: render.SourceKey = ("secret", "p/s3", 2, None)
HF: render.SourceKey = ("secret", "p/hf", 2, None)


def test_only_renders_the_named_entries() -> None:
    conf = config(hf("one", "p/hf"), cred("s3", "s3", "p/s3", S3_KEYS))
    out = render.render(conf, namespaces=NS, only=["one"],
                        vault={HF: data("p/hf", t="tok"), S3: VaultFailure("sealed")})
    assert set(out.secrets) == {("a", "one-secret")} and not out.errors
    out = render.render(conf, namespaces=NS, only=["s3"],
                        vault={HF: VaultFailure("sealed"), S3: data("p/s3", ak="A", sk="S")})
    assert set(out.secrets) == {("a", "s3-secret")} and not out.errors
    assert render.render(conf, namespaces=NS, only=[], vault={}).secrets == {}


def test_keys_record_their_credential_and_source() -> None:
    out = render.render(config(hf("one", "p/hf")), namespaces=NS,
                        vault={HF: data("p/hf", t="tok")})
    secret = out.secrets[("a", "one-secret")]
    assert (secret.namespace, secret.name, secret.shared) == ("a", "one-secret", False)
    assert secret.keys == {"HF_TOKEN": KeyValue(SecretValue("tok"), "one", "secret/p/hf@3")}


def test_an_unread_path_holds_its_entry() -> None:
    out = render.render(config(hf("one", "p/hf")), namespaces=NS, vault={})
    [error] = out.errors
    assert error.credential == "one" and "not read this cycle" in error.reason
    assert out.secrets[("a", "one-secret")].held_keys == {"HF_TOKEN"}


def test_a_vault_failure_is_named_in_the_error() -> None:
    out = render.render(config(hf("one", "p/hf")), namespaces=NS,
                        vault={HF: VaultFailure("HTTP 503 (sealed)")})
    assert [(e.credential, e.reason.endswith("HTTP 503 (sealed)")) for e in out.errors] == [
        ("one", True)]


def test_only_missing_namespaces_are_errors_not_warnings() -> None:
    target = {"namespaces": ["gone"], "secret": "s"}
    out = render.render(config(cred("one", "hf", "p/hf", {"token": "t"}, target)),
                        namespaces=NS, vault={HF: data("p/hf", t="tok")})
    assert [e.credential for e in out.errors] == ["one"] and not out.warnings
    assert not out.secrets


def test_an_hf_token_in_the_storage_spec_secret_is_written_key_by_key() -> None:
    target = {"namespaces": ["a"], "secret": "storage-config"}
    out = render.render(config(cred("one", "hf", "p/hf", {"token": "t"}, target)),
                        namespaces=NS, vault={HF: data("p/hf", t="tok")})
    assert out.secrets[("a", "storage-config")].shared


def test_the_instance_is_on_every_desired_object() -> None:
    target = {"namespaces": ["a"], "secret": "s", "serviceAccount": "sa"}
    out = render.render(config(cred("one", "hf", "p/hf", {"token": "t"}, target),
                               sync={"instance": "blue"}),
                        namespaces=NS, vault={HF: data("p/hf", t="tok")})
    assert out.secrets[("a", "s")].instance == "blue"
    assert out.service_accounts[("a", "sa")] == DesiredServiceAccount(
        namespace="a", name="sa", secrets={"s"}, credentials={"one"}, instance="blue")


def storage_sharers(hf_first: bool, adopt: bool) -> Any:
    """An hf token and an s3 storage-spec entry in one storage-config; only the first
    entry has adopt and rollout set."""
    flags = {"adopt": True, "rollout": True}
    token = cred("hf", "hf", "p/hf", {"token": "t"},
                 {"namespaces": ["a"], "secret": "storage-config",
                  **(flags if hf_first and adopt else {})})
    spec = cred("s3", "s3", "p/s3", S3_KEYS,
                {"namespaces": ["a"], "storageConfig": {"key": "m"},
                 **(flags if not hf_first and adopt else {})})
    return config(*([token, spec] if hf_first else [spec, token]))


@pytest.mark.parametrize("hf_first", [True, False])
def test_adopt_and_rollout_of_any_writer_hold_for_the_shared_secret(hf_first: bool) -> None:
    vault: dict[render.SourceKey, VaultData | VaultFailure] = {
        HF: data("p/hf", t="tok"), S3: data("p/s3", ak="AK", sk="SK")}
    out = render.render(storage_sharers(hf_first, True), namespaces=NS, vault=vault)
    shared = out.secrets[("a", "storage-config")]
    assert (shared.adopt, shared.rollout, shared.credentials) == (True, True, {"hf", "s3"})
    quiet = render.render(storage_sharers(hf_first, False), namespaces=NS, vault=vault)
    shared = quiet.secrets[("a", "storage-config")]
    assert (shared.adopt, shared.rollout) == (False, False)


@pytest.mark.parametrize("hf_first", [True, False])
def test_failed_writers_of_a_shared_secret_hold_all_their_keys(hf_first: bool) -> None:
    out = render.render(storage_sharers(hf_first, False), namespaces=NS,
                        vault={HF: VaultFailure("x"), S3: VaultFailure("y")})
    shared = out.secrets[("a", "storage-config")]
    assert (shared.keys, shared.held_keys) == ({}, frozenset({"HF_TOKEN", "m"}))


def test_a_service_account_gathers_every_credential_that_names_it() -> None:
    """Several pull secrets and Secrets of different types; those that failed are held."""
    def to_sa(secret: str) -> dict[str, Any]:
        return {"namespaces": ["a"], "secret": secret, "serviceAccount": "sa"}
    oci = {"username": "u", "password": "p"}
    reg = {"oci": {"registry": "r.example.com"}}
    creds = [cred("s3", "s3", "p/s3", S3_KEYS, to_sa("s3-secret")),
             cred("gcs", "gcs", "p/bad", {"credentials": "c"}, to_sa("gcs-secret")),
             cred("az", "azure", "p/bad", {"storageAccessKey": "k"}, to_sa("az-secret")),
             {**cred("o1", "oci", "p/oci", oci, to_sa("o1")), **reg},
             {**cred("o2", "oci", "p/oci", oci, to_sa("o2")), **reg},
             {**cred("o3", "oci", "p/bad", oci, to_sa("o3")), **reg},
             {**cred("o4", "oci", "p/bad", oci, to_sa("o4")), **reg}]
    out = render.render(config(*creds), namespaces=NS, vault={
        S3: data("p/s3", ak="AK", sk="SK"), ("secret", "p/oci", 2, None): data(
            "p/oci", u="robot", p="pw"), ("secret", "p/bad", 2, None): VaultFailure("x")})
    assert out.service_accounts == {("a", "sa"): DesiredServiceAccount(
        namespace="a", name="sa", secrets={"s3-secret"},
        held_secrets=frozenset({"gcs-secret", "az-secret"}),
        pull_secrets=frozenset({"o1", "o2"}), held_pull_secrets=frozenset({"o3", "o4"}),
        credentials={"s3", "gcs", "az", "o1", "o2", "o3", "o4"})}


@pytest.mark.parametrize(("extra", "ok"), [(0, True), (1, False)])
def test_the_secret_size_limit_counts_every_value(extra: int, ok: bool) -> None:
    half = render.MAX_SECRET_BYTES // 2
    values = {"ak": "A" * half, "sk": "B" * (render.MAX_SECRET_BYTES - half + extra)}
    out = render.render(config(cred("s3", "s3", "p/s3", S3_KEYS)), namespaces=NS,
                        vault={S3: data("p/s3", **values)})
    assert (not out.errors) is ok
    assert bool(out.secrets[("a", "s3-secret")].keys) is ok
