"""Core sync against the real OpenBao and kube-apiserver (the reconcile rules in README.md).
The tests that exercise Vault itself (KV v1/v2 reads, versions, metadata, auth
methods, failures) run against HashiCorp Vault as well (BOTH_SERVERS)."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from pathlib import Path

import hvac
import pytest
import yaml
from kubernetes import client as k8s

from devenv import servers
from syncer.model import ANN_HASH, ANN_OWNERSHIP, ANN_SOURCE
from tests import seeds
from tests.entries import hf_entry, put_hf, put_s3, s3_entry
from tests.helpers import (
    AuditLog,
    WriteConfig,
    enable_kubernetes_auth,
    sa_token,
    secret_data,
)
from tests.kubeobjects import annotations_of, data_of, labels_of, listed, meta
from tests.vaultsetup import BOTH_SERVERS

pytestmark = pytest.mark.integration
Cli = Callable[..., tuple[int, str]]


class TestFirstSync:
    def test_seed_shapes_in_two_namespaces(self, core: k8s.CoreV1Api, bao: hvac.Client,
                                           cli: Cli, write_config: WriteConfig,
                                           vault_prefix: str, namespace: str) -> None:
        """One mapping -> s3-secret with KServe annotations, storage-config with HF_TOKEN
        and a storage-spec entry, and both ServiceAccounts, in every namespace."""
        other = namespace + "-b"
        core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=other)))
        key_id, secret = put_s3(bao, f"{vault_prefix}/s3")
        token = put_hf(bao, f"{vault_prefix}/hf")
        config = write_config([
            s3_entry("s3", f"{vault_prefix}/s3", [namespace, other],
                     storageConfig={"key": "models", "bucket": "models", "default": True}),
            hf_entry("hf", f"{vault_prefix}/hf", [namespace, other]),
        ])
        code, out = cli("once", "-c", str(config))
        assert code == 0, out
        assert "2 Vault reads" in out
        for ns in (namespace, other):
            s3 = core.read_namespaced_secret("s3-secret", ns)
            assert s3.type == "Opaque"
            assert {k: v for k, v in annotations_of(s3).items()
                    if k.startswith("serving.kserve.io/")} == {
                "serving.kserve.io/s3-endpoint": "s3.amazonaws.com",
                "serving.kserve.io/s3-usehttps": "1",
                "serving.kserve.io/s3-region": "us-east-1"}
            assert labels_of(s3)["app.kubernetes.io/managed-by"] == "kserve-vault-sync"
            assert annotations_of(s3)["kserve-vault-sync/source"] == \
                f"secret/{vault_prefix}/s3@1"
            assert secret_data(core, ns, "s3-secret") == {
                "AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret}
            storage = secret_data(core, ns, "storage-config")
            assert storage["HF_TOKEN"] == token
            assert set(storage) == {"HF_TOKEN", "models", "default", "default_s3"}
            assert listed(core.read_namespaced_service_account("s3-sa", ns)) == ["s3-secret"]
            assert listed(core.read_namespaced_service_account("hfserviceacc", ns)) == [
                "storage-config"]

    def test_noop_cycle_makes_zero_writes(self, bao: hvac.Client, cli: Cli,
                                          write_config: WriteConfig, vault_prefix: str,
                                          namespace: str, audit: AuditLog) -> None:
        put_s3(bao, f"{vault_prefix}/s3")
        put_hf(bao, f"{vault_prefix}/hf")
        config = write_config([
            s3_entry("s3", f"{vault_prefix}/s3", [namespace], storageConfig={"key": "m"}),
            hf_entry("hf", f"{vault_prefix}/hf", [namespace])])
        assert cli("once", "-c", str(config))[0] == 0
        # s3-secret, storage-config (S3 entry + HF_TOKEN in one create), s3-sa, hfserviceacc.
        assert sorted((e["verb"], e["objectRef"]["name"])
                      for e in audit.writes(namespaces={namespace})) == [
            ("create", "hfserviceacc"), ("create", "s3-sa"), ("create", "s3-secret"),
            ("create", "storage-config")]
        audit.mark()
        code, out = cli("once", "-c", str(config))
        assert code == 0 and "unchanged" in out
        assert audit.writes(namespaces={namespace}) == []
        # Reads were label-selected lists, not a GET per object.
        reads = [e for e in audit.events() if e["verb"] == "get"
                 and (e.get("objectRef") or {}).get("namespace") == namespace]
        assert reads == []

    @BOTH_SERVERS
    def test_rotation_updates_in_place(self, core: k8s.CoreV1Api, bao: hvac.Client, cli: Cli,
                                       write_config: WriteConfig, vault_prefix: str,
                                       namespace: str, audit: AuditLog) -> None:
        put_s3(bao, f"{vault_prefix}/s3")
        config = write_config([s3_entry("s3", f"{vault_prefix}/s3", [namespace],
                                        storageConfig={"key": "m"})])
        assert cli("once", "-c", str(config))[0] == 0
        uid = meta(core.read_namespaced_secret("s3-secret", namespace)).uid
        audit.mark()
        _, secret = put_s3(bao, f"{vault_prefix}/s3")
        assert cli("once", "-c", str(config))[0] == 0
        s3 = core.read_namespaced_secret("s3-secret", namespace)
        assert meta(s3).uid == uid
        assert annotations_of(s3)["kserve-vault-sync/source"].endswith("@2")
        assert secret_data(core, namespace, "s3-secret")["AWS_SECRET_ACCESS_KEY"] == secret
        assert sorted((e["verb"], e["objectRef"]["name"])
                      for e in audit.writes(namespaces={namespace})) == [
            ("patch", "s3-secret"), ("patch", "storage-config")]


class TestSharing:
    def test_foreign_keys_and_entries_untouched(self, core: k8s.CoreV1Api, bao: hvac.Client,
                                                cli: Cli, write_config: WriteConfig,
                                                vault_prefix: str, namespace: str) -> None:
        """storage-config's hand-written keys stay byte for byte; a hand-made
        ServiceAccount keeps its other secrets."""
        hand = {"byhand": base64.b64encode(b"\x00\x01binary\xff").decode(),
                "other-store": base64.b64encode(b'{"type":"hdfs"}').decode()}
        core.create_namespaced_secret(namespace, k8s.V1Secret(
            metadata=k8s.V1ObjectMeta(name="storage-config", labels={"team": "a"}), data=hand))
        core.create_namespaced_secret(namespace, k8s.V1Secret(
            metadata=k8s.V1ObjectMeta(name="registry"), string_data={"x": "y"}))
        core.create_namespaced_service_account(namespace, k8s.V1ServiceAccount(
            metadata=k8s.V1ObjectMeta(name="s3-sa"),
            secrets=[k8s.V1ObjectReference(name="registry")]))
        put_s3(bao, f"{vault_prefix}/s3")
        token = put_hf(bao, f"{vault_prefix}/hf")
        config = write_config([
            s3_entry("s3", f"{vault_prefix}/s3", [namespace], storageConfig={"key": "m"}),
            hf_entry("hf", f"{vault_prefix}/hf", [namespace])])
        code, out = cli("once", "-c", str(config))
        assert code == 0, out
        after = core.read_namespaced_secret("storage-config", namespace)
        assert {k: data_of(after)[k] for k in hand} == hand
        assert labels_of(after)["team"] == "a"
        assert base64.b64decode(data_of(after)["HF_TOKEN"]).decode() == token
        assert sorted(listed(core.read_namespaced_service_account("s3-sa", namespace))) == [
            "registry", "s3-secret"]
        # A rotation touches only our key.
        put_hf(bao, f"{vault_prefix}/hf")
        assert cli("once", "-c", str(config))[0] == 0
        again = core.read_namespaced_secret("storage-config", namespace)
        assert {k: data_of(again)[k] for k in hand} == hand

    def test_unowned_secret_is_a_conflict_until_adopted(
            self, core: k8s.CoreV1Api, bao: hvac.Client, cli: Cli, write_config: WriteConfig,
            vault_prefix: str, namespace: str) -> None:
        core.create_namespaced_secret(namespace, k8s.V1Secret(
            metadata=k8s.V1ObjectMeta(name="s3-secret"),
            string_data={"AWS_ACCESS_KEY_ID": "hand", "AWS_SECRET_ACCESS_KEY": "made"}))
        before = core.read_namespaced_secret("s3-secret", namespace)
        put_s3(bao, f"{vault_prefix}/s3")
        config = write_config([s3_entry("s3", f"{vault_prefix}/s3", [namespace])])
        code, out = cli("once", "-c", str(config))
        assert code == 1
        assert "conflict" in out and "adopt: true" in out
        after = core.read_namespaced_secret("s3-secret", namespace)
        assert meta(after).resource_version == meta(before).resource_version
        # Not ours, so the ServiceAccount must not list it either.
        assert (core.list_namespaced_service_account(namespace).items or []) == []
        adopt = write_config([s3_entry("s3", f"{vault_prefix}/s3", [namespace], adopt=True)])
        code, out = cli("once", "-c", str(adopt))
        assert code == 0, out
        assert "adopted" in out
        assert meta(core.read_namespaced_secret("s3-secret", namespace)).uid == \
            meta(before).uid

    def test_hand_written_hf_token_in_storage_config_is_a_conflict(
            self, core: k8s.CoreV1Api, bao: hvac.Client, cli: Cli, write_config: WriteConfig,
            vault_prefix: str, namespace: str) -> None:
        core.create_namespaced_secret(namespace, k8s.V1Secret(
            metadata=k8s.V1ObjectMeta(name="storage-config"),
            string_data={"HF_TOKEN": "typed-by-hand"}))
        put_hf(bao, f"{vault_prefix}/hf")
        config = write_config([hf_entry("hf", f"{vault_prefix}/hf", [namespace])])
        code, out = cli("once", "-c", str(config))
        assert code == 1 and "key HF_TOKEN exists and was not written" in out
        assert secret_data(core, namespace, "storage-config") == {"HF_TOKEN": "typed-by-hand"}


class TestFailures:
    @BOTH_SERVERS
    def test_failed_entry_keeps_old_values_others_sync(
            self, core: k8s.CoreV1Api, bao: hvac.Client, cli: Cli, write_config: WriteConfig,
            vault_prefix: str, namespace: str) -> None:
        put_s3(bao, f"{vault_prefix}/s3")
        put_hf(bao, f"{vault_prefix}/hf")
        config = write_config([
            s3_entry("s3", f"{vault_prefix}/s3", [namespace], storageConfig={"key": "m"}),
            hf_entry("hf", f"{vault_prefix}/hf", [namespace])])
        assert cli("once", "-c", str(config))[0] == 0
        s3_before = core.read_namespaced_secret("s3-secret", namespace)
        storage_before = secret_data(core, namespace, "storage-config")
        # The S3 path now holds a malformed value; the HF token rotates.
        bao.secrets.kv.v2.create_or_update_secret(f"{vault_prefix}/s3", secret={
            "access_key": seeds.fake("ak2"), "secret_key": ""})
        token = put_hf(bao, f"{vault_prefix}/hf")
        code, out = cli("once", "-c", str(config))
        assert code == 1
        assert "credentials[0] (s3): vault.keys.secretAccessKey: key 'secret_key'" in out
        assert "is empty" in out
        s3_after = core.read_namespaced_secret("s3-secret", namespace)
        assert meta(s3_after).resource_version == meta(s3_before).resource_version
        storage_after = secret_data(core, namespace, "storage-config")
        assert storage_after["m"] == storage_before["m"]  # held S3 storage-spec key
        assert storage_after["HF_TOKEN"] == token  # the other entry synced
        # The path disappears entirely: still held, still exit 1.
        bao.secrets.kv.v2.delete_metadata_and_all_versions(f"{vault_prefix}/s3")
        code, out = cli("once", "-c", str(config))
        assert code == 1 and "not found" in out
        assert meta(core.read_namespaced_secret("s3-secret", namespace)).resource_version \
            == meta(s3_before).resource_version

    @BOTH_SERVERS
    def test_unreachable_vault_changes_nothing(
            self, core: k8s.CoreV1Api, bao: hvac.Client, cli: Cli, write_config: WriteConfig,
            vault_prefix: str, namespace: str, audit: AuditLog) -> None:
        put_s3(bao, f"{vault_prefix}/s3")
        good = write_config([s3_entry("s3", f"{vault_prefix}/s3", [namespace])])
        assert cli("once", "-c", str(good))[0] == 0
        audit.mark()
        from devenv.servers import free_port
        down = write_config([s3_entry("s3", f"{vault_prefix}/s3", [namespace])],
                            vault={"address": f"http://127.0.0.1:{free_port()}"})
        started = time.monotonic()
        code, out = cli("once", "-c", str(down))
        assert code == 1 and "unreachable" in out
        assert time.monotonic() - started < 60
        assert audit.writes(namespaces={namespace}) == []

    def test_missing_namespace_is_reported_others_sync(
            self, core: k8s.CoreV1Api, bao: hvac.Client, cli: Cli, write_config: WriteConfig,
            vault_prefix: str, namespace: str) -> None:
        put_s3(bao, f"{vault_prefix}/s3")
        config = write_config([s3_entry("s3", f"{vault_prefix}/s3",
                                        [namespace, "does-not-exist-xyz"])])
        code, out = cli("once", "-c", str(config))
        assert code == 1 and "namespace 'does-not-exist-xyz' does not exist" in out
        assert secret_data(core, namespace, "s3-secret")


class TestModes:
    def test_dry_run_writes_nothing(self, bao: hvac.Client, cli: Cli, write_config: WriteConfig,
                                    vault_prefix: str, namespace: str, audit: AuditLog,
                                    core: k8s.CoreV1Api) -> None:
        put_s3(bao, f"{vault_prefix}/s3")
        config = write_config([s3_entry("s3", f"{vault_prefix}/s3", [namespace])])
        code, out = cli("once", "-c", str(config), "--dry-run")
        assert code == 0 and "dry run" in out and "created" in out
        assert core.list_namespaced_secret(namespace).items == []

    def test_namespace_selector(self, core: k8s.CoreV1Api, bao: hvac.Client, cli: Cli,
                                write_config: WriteConfig, vault_prefix: str,
                                namespace: str) -> None:
        label = {"kvs-test": namespace}
        core.patch_namespace(namespace, {"metadata": {"labels": label}})
        put_s3(bao, f"{vault_prefix}/s3")
        entry = s3_entry("s3", f"{vault_prefix}/s3", [])
        entry["targets"][0].pop("namespaces")
        entry["targets"][0]["namespaceSelector"] = {"matchLabels": label}
        code, out = cli("once", "-c", str(write_config([entry])))
        assert code == 0, out
        assert secret_data(core, namespace, "s3-secret")

    def test_prune_removes_only_what_we_own(self, core: k8s.CoreV1Api, bao: hvac.Client,
                                            cli: Cli, write_config: WriteConfig,
                                            vault_prefix: str, namespace: str) -> None:
        core.create_namespaced_secret(namespace, k8s.V1Secret(
            metadata=k8s.V1ObjectMeta(name="storage-config"), string_data={"mine": "hand"}))
        put_s3(bao, f"{vault_prefix}/s3")
        put_hf(bao, f"{vault_prefix}/hf")
        both = write_config([
            s3_entry("s3", f"{vault_prefix}/s3", [namespace], storageConfig={"key": "m"}),
            hf_entry("hf", f"{vault_prefix}/hf", [namespace])])
        assert cli("once", "-c", str(both))[0] == 0
        only_hf = [hf_entry("hf", f"{vault_prefix}/hf", [namespace])]
        # Without prune, removing the entry leaves everything.
        assert cli("once", "-c", str(write_config(only_hf)))[0] == 0
        assert core.read_namespaced_secret("s3-secret", namespace)
        code, out = cli("once", "-c", str(write_config(only_hf, sync={"prune": True})))
        assert code == 0, out
        names = {meta(s).name for s in core.list_namespaced_secret(namespace).items}
        assert names == {"storage-config"}
        assert set(secret_data(core, namespace, "storage-config")) == {"mine", "HF_TOKEN"}
        assert {meta(s).name for s in
                core.list_namespaced_service_account(namespace).items} == {"hfserviceacc"}

    @BOTH_SERVERS
    def test_status_and_render(self, bao: hvac.Client, cli: Cli, write_config: WriteConfig,
                               vault_prefix: str, namespace: str, core: k8s.CoreV1Api) -> None:
        _, secret = put_s3(bao, f"{vault_prefix}/s3")
        config = write_config([s3_entry("s3", f"{vault_prefix}/s3", [namespace])])
        code, out = cli("render", "-c", str(config))
        assert code == 0 and "<redacted sha256:" in out and secret not in out
        code, out = cli("render", "-c", str(config), "--reveal", echo=False)
        assert code == 0 and base64.b64encode(secret.encode()).decode() in out
        documents = "\n".join(line for line in out.splitlines()
                              if not line.startswith('{"'))  # stderr's JSON log lines
        printed = {d["metadata"]["name"]: d for d in yaml.safe_load_all(documents) if d}
        assert cli("once", "-c", str(config))[0] == 0
        # render prints the very objects the first sync wrote: data, labels, annotations.
        written = core.read_namespaced_secret("s3-secret", namespace)
        assert printed["s3-secret"]["data"] == written.data
        assert printed["s3-secret"]["metadata"]["labels"] == meta(written).labels
        for key in (ANN_HASH, ANN_SOURCE, ANN_OWNERSHIP):
            assert printed["s3-secret"]["metadata"]["annotations"][key] == \
                annotations_of(written)[key]
        code, out = cli("status", "-c", str(config))
        assert code == 0 and "in sync" in out
        put_s3(bao, f"{vault_prefix}/s3")
        code, out = cli("status", "-c", str(config))
        assert code == 1 and "stale" in out
        assert " 2  " in out and " 1  " in out  # Vault at version 2, the cluster at 1
        core.patch_namespaced_secret("s3-secret", namespace,
                                     {"data": {"AWS_ACCESS_KEY_ID": "dGFtcGVyZWQ="}})
        code, out = cli("status", "-c", str(config))
        assert "drift" in out
        # A hand-made Secret where a target expects ours: a conflict.
        other = write_config([s3_entry("s3", f"{vault_prefix}/s3", [namespace],
                                       secret="hand-made")])
        core.create_namespaced_secret(namespace, k8s.V1Secret(
            metadata=k8s.V1ObjectMeta(name="hand-made"), string_data={"x": "y"}))
        code, out = cli("status", "-c", str(other))
        assert code == 1
        assert next(line for line in out.splitlines() if "hand-made" in line).endswith(
            "yes       conflict")


@BOTH_SERVERS
class TestVaultAuth:
    def test_kubernetes_and_approle_auth(self, core: k8s.CoreV1Api, bao: hvac.Client, cli: Cli,
                                         write_config: WriteConfig, vault_prefix: str,
                                         namespace: str, devenv: servers.Env,
                                         tmp_path: Path) -> None:
        """The kubernetes method for real (TokenReview against this API server), and
        approle; both limited by a policy that reads only the mapped path."""
        put_s3(bao, f"{vault_prefix}/s3")
        policy = f"kvs-{namespace[-6:]}"
        bao.sys.create_or_update_policy(policy, f'path "secret/data/{vault_prefix}/*" '
                                                '{ capabilities = ["read"] }')
        mount = f"k8s-{namespace[-6:]}"
        enable_kubernetes_auth(bao, devenv, mount, namespace=namespace,
                               service_account="syncer", policies=[policy])
        core.create_namespaced_service_account(
            namespace, k8s.V1ServiceAccount(metadata=k8s.V1ObjectMeta(name="syncer")))
        jwt = sa_token(core, namespace, "syncer")
        jwt_file = tmp_path / "token"
        jwt_file.write_text(jwt)
        entry = s3_entry("s3", f"{vault_prefix}/s3", [namespace])
        kube_auth = {"method": "kubernetes", "mount": mount, "role": "syncer",
                     "jwtPath": str(jwt_file)}
        code, out = cli("once", "-c", str(write_config([entry], vault={"auth": kube_auth})))
        assert code == 0, out

        approle_mount = f"ar-{namespace[-6:]}"
        bao.sys.enable_auth_method("approle", path=approle_mount)
        bao.write(f"auth/{approle_mount}/role/syncer", token_policies=[policy], token_ttl="10m")
        role_id = bao.read(f"auth/{approle_mount}/role/syncer/role-id")["data"]["role_id"]
        secret_id = bao.write(f"auth/{approle_mount}/role/syncer/secret-id")["data"]["secret_id"]
        seeds.register("approle-secret-id", secret_id)
        (tmp_path / "sid").write_text(secret_id)
        approle = {"method": "approle", "mount": approle_mount, "roleId": role_id,
                   "secretIdFile": str(tmp_path / "sid")}
        put_s3(bao, f"{vault_prefix}/s3")
        code, out = cli("once", "-c", str(write_config([entry], vault={"auth": approle})))
        assert code == 0 and "updated" in out, out
        # The policy reads only the mapped prefix: another path is refused clearly.
        put_s3(bao, f"elsewhere-{namespace}/s3")
        other = s3_entry("s3", f"elsewhere-{namespace}/s3", [namespace], adopt=True)
        code, out = cli("once", "-c", str(write_config([other], vault={"auth": approle})))
        assert code == 1 and "permission denied" in out

    def test_kv_v1_mount(self, core: k8s.CoreV1Api, bao: hvac.Client, cli: Cli,
                         write_config: WriteConfig, namespace: str) -> None:
        mount = f"kv1-{namespace[-6:]}"
        bao.sys.enable_secrets_engine("kv", path=mount, options={"version": "1"})
        token = seeds.fake("hf-v1", "hf_")
        bao.secrets.kv.v1.create_or_update_secret("hf", secret={"token": token},
                                                  mount_point=mount)
        entry = hf_entry("hf", "hf", [namespace])
        entry["vault"].update({"mount": mount, "kvVersion": 1})
        code, out = cli("once", "-c", str(write_config([entry])))
        assert code == 0, out
        assert secret_data(core, namespace, "storage-config")["HF_TOKEN"] == token
