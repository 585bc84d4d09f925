"""Keys from Vault's AWS secrets engine through the real CLI, on both servers:
one lease per credential, reused by the next run, replaced when it is gone,
and a lease left retiring by one run revoked by the next - counted in Vault
(``sys/leases/lookup``) and in moto's IAM users at every step. And the shipped
policy, IAM policy and mapping (config/vault/) are enough for it."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import hvac
import pytest
import yaml
from kubernetes import client as k8s

from devenv import vaultserver
from syncer.leasestore import store_name
from tests import seeds
from tests.awsmoto import VaultMoto
from tests.helpers import WriteConfig, secret_data
from tests.kubeobjects import data_of, meta
from tests.vaultsetup import (
    BOTH_SERVERS,
    SHIPPED,
    aws_iam_user_role,
    aws_static_role,
    enable_aws_engine,
    leases,
    shipped_iam_policy,
    shipped_policy,
)

pytestmark = [pytest.mark.integration, BOTH_SERVERS]
Cli = Callable[..., tuple[int, str]]


@pytest.fixture
def moto() -> Iterator[VaultMoto]:
    with VaultMoto() as server:
        seeds.register("aws-sync-moto-root", server.initial_key[1])
        yield server


def entry(namespace: str, moto: VaultMoto, **source: Any) -> dict[str, Any]:
    return {"name": "models", "type": "s3", "vault": {"engine": "aws", **source},
            "s3": {"endpoint": moto.url, "region": "us-east-1"},
            "targets": [{"namespaces": [namespace], "secret": "s3-models",
                         "serviceAccount": "s3-sa"}]}


def synced_key(core: k8s.CoreV1Api, namespace: str, label: str) -> tuple[str, str]:
    data = secret_data(core, namespace, "s3-models")
    seeds.register(label, data["AWS_SECRET_ACCESS_KEY"])
    return data["AWS_ACCESS_KEY_ID"], data["AWS_SECRET_ACCESS_KEY"]


def vault_users(moto: VaultMoto) -> list[str]:
    """The IAM users the engine made for leases (one per live lease)."""
    return [u for u in moto.users() if u.startswith("vault-") and u != moto.user]


def stored(core: k8s.CoreV1Api, namespace: str, config: Path) -> dict[str, Any]:
    """The lease IDs in the lease store's record of credential `models` - only those:
    the record also holds the key, which a failing assertion would print."""
    instance = yaml.safe_load(config.read_text())["sync"]["instance"]
    secret = core.read_namespaced_secret(store_name(instance), namespace)
    assert "app.kubernetes.io/managed-by" not in (meta(secret).labels or {})
    record = json.loads(base64.b64decode(data_of(secret)["models"]))
    seeds.register("aws-sync-stored", record["current"]["secretKey"])
    return {"current": {"leaseId": record["current"]["leaseId"]},
            "retiring": [{"leaseId": r["leaseId"]} for r in record["retiring"]]}


def test_dynamic_key_leased_reused_replaced_and_retired_across_runs(
        bao: hvac.Client, vault_server: vaultserver.DevVault, moto: VaultMoto, cli: Cli,
        write_config: WriteConfig, namespace: str, core: k8s.CoreV1Api) -> None:
    mount = f"aws-{namespace[-6:]}"
    prefix = f"{mount}/creds/reader"
    enable_aws_engine(bao, vault_server, mount, moto, lease="1h", max_lease="2h")
    aws_iam_user_role(bao, mount, "reader")
    state = ("--state-namespace", namespace)

    def once(interval: str = "1s", **source: Any) -> tuple[int, str, Path]:
        config = write_config([entry(namespace, moto, mount=mount, role="reader", **source)],
                              sync={"interval": interval})
        code, out = cli("once", "-c", str(config), *state)
        return code, out, config

    # A first run issues one lease; its key is in the Secret and reads the bucket.
    code, out, config = once()
    assert code == 0, out
    first = synced_key(core, namespace, "aws-sync-first")
    [lease_a] = leases(bao, prefix)
    assert stored(core, namespace, config)["current"]["leaseId"] == lease_a
    assert len(vault_users(moto)) == 1 and moto.can_read(first)

    # The next run (a restart) finds the lease and reuses it: no new key, no write.
    code, out, _ = once()
    assert code == 0 and "Secret     " in out and "unchanged" in out, out
    assert leases(bao, prefix) == [lease_a] and synced_key(core, namespace, "x") == first
    assert len(vault_users(moto)) == 1

    # Revoked behind the syncer's back: the next run sees it gone and issues a new one.
    bao.sys.revoke_lease(lease_a)
    assert not moto.can_read(first)
    bao.sys.tune_mount_configuration(mount, default_lease_ttl="40s", max_lease_ttl="2h")
    code, out, _ = once()
    assert code == 0 and "updated" in out, out
    second = synced_key(core, namespace, "aws-sync-second")
    [lease_b] = leases(bao, prefix)
    assert lease_b != lease_a and moto.can_read(second) and len(vault_users(moto)) == 1

    # Its max TTL cut to 39 s from issue, a run with a 40 s interval renews it at once;
    # the renewal is cut short (final), so it re-issues. The old lease must wait
    # revokeAfter (50 s), and the run ends first.
    bao.sys.tune_mount_configuration(mount, default_lease_ttl="30s", max_lease_ttl="39s")
    code, out, config = once("40s", overlap="60s", revokeAfter="50s")
    assert code == 0 and "updated" in out, out
    third = synced_key(core, namespace, "aws-sync-third")
    [lease_c] = sorted(set(leases(bao, prefix)) - {lease_b})
    assert sorted(leases(bao, prefix)) == sorted([lease_b, lease_c])
    record = stored(core, namespace, config)
    assert record["current"]["leaseId"] == lease_c
    assert [r["leaseId"] for r in record["retiring"]] == [lease_b]
    assert moto.can_read(second) and moto.can_read(third) and len(vault_users(moto)) == 2

    # A later run with revokeAfter 1s finds the retiring lease in the store and, the new
    # key being in every target, revokes it: one lease, one IAM user, the old key refused.
    time.sleep(1.5)  # revokeAfter, counted from the new lease's issue
    code, out, config = once(overlap="60s", revokeAfter="1s")
    assert code == 0, out
    assert f"...{lease_b[-8:]}" in out and "lease_revoked" in out
    assert leases(bao, prefix) == [lease_c] and len(vault_users(moto)) == 1
    assert not moto.can_read(second) and moto.can_read(third)
    assert stored(core, namespace, config)["retiring"] == []


def test_static_role_key_and_dry_runs(bao: hvac.Client, vault_server: vaultserver.DevVault,
                                      moto: VaultMoto, cli: Cli, write_config: WriteConfig,
                                      namespace: str, core: k8s.CoreV1Api) -> None:
    """A static role's key is one plain read; a dry run or `render` never issues a lease."""
    mount = f"aws-{namespace[-6:]}"
    enable_aws_engine(bao, vault_server, mount, moto)
    aws_iam_user_role(bao, mount, "reader")
    moto.create_user("static-reader")
    aws_static_role(bao, mount, "models", username="static-reader", rotation_period="1h")
    state = ("--state-namespace", namespace)
    static = write_config([entry(namespace, moto, mount=mount, staticRole="models")])
    code, out = cli("once", "-c", str(static), *state)
    assert code == 0, out
    key = synced_key(core, namespace, "aws-sync-static")
    assert moto.access_keys("static-reader") == [key[0]] and moto.can_read(key)

    dynamic = write_config([entry(namespace, moto, mount=mount, role="reader")])
    code, out = cli("once", "-c", str(dynamic), "--dry-run", *state)
    assert code == 1 and "no live lease, and a dry run issues none" in out, out
    code, out = cli("render", "-c", str(dynamic))
    assert code == 1 and "a leased key is issued only by a sync" in out, out
    assert leases(bao, f"{mount}/creds/reader") == [] and vault_users(moto) == []


def test_shipped_aws_setup_is_enough(bao: hvac.Client, vault_server: vaultserver.DevVault,
                                     moto: VaultMoto, cli: Cli, write_config: WriteConfig,
                                     namespace: str, core: k8s.CoreV1Api) -> None:
    """config/vault/aws-policy.hcl, aws-model-reader-iam.json and aws-mapping.yaml, as
    docs/vault-setup.md applies them: a token with only that policy syncs both entries,
    renews and revokes its own lease, and may revoke nothing else."""
    mount = f"aws-{namespace[-6:]}"
    enable_aws_engine(bao, vault_server, mount, moto)
    aws_iam_user_role(bao, mount, "model-reader", policy=shipped_iam_policy())
    moto.create_user("models-static")
    aws_static_role(bao, mount, "models", username="models-static", rotation_period="1h")
    aws_iam_user_role(bao, mount, "other")
    bao.sys.create_or_update_policy(f"kvs-aws-{mount}", shipped_policy(mount))
    token = bao.auth.token.create(policies=[f"kvs-aws-{mount}"], no_default_policy=True,
                                  ttl="10m")["auth"]["client_token"]
    seeds.register("aws-shipped-token", token)
    mapping = yaml.safe_load((SHIPPED / "aws-mapping.yaml").read_text())
    for cred in mapping["credentials"]:
        cred["vault"]["mount"] = mount
        cred["s3"] = {"endpoint": moto.url, "region": "us-east-1"}
        for target in cred["targets"]:
            target["namespaces"] = [namespace]
        cred["targets"][0]["secret"] = f"s3-{cred['name']}"
    config = write_config(mapping["credentials"],
                          vault={"auth": {"method": "token", "token": token}})
    code, out = cli("once", "-c", str(config), "--state-namespace", namespace)
    assert code == 0, out
    for name in ("models-dynamic", "models-static"):
        data = secret_data(core, namespace, f"s3-{name}")
        seeds.register(f"aws-shipped-{name}", data["AWS_SECRET_ACCESS_KEY"])
        assert moto.can_read((data["AWS_ACCESS_KEY_ID"], data["AWS_SECRET_ACCESS_KEY"]))
    mine = hvac.Client(url=vault_server.addr, token=token)
    [lease] = leases(bao, f"{mount}/creds/model-reader")
    assert mine.adapter.put(f"/v1/sys/leases/renew/{lease}", json={"increment": 60})
    other = bao.read(f"{mount}/creds/other")["lease_id"]
    with pytest.raises(hvac.exceptions.Forbidden):
        mine.adapter.put(f"/v1/sys/leases/revoke/{other}")
    mine.adapter.put(f"/v1/sys/leases/revoke/{lease}")
    assert leases(bao, f"{mount}/creds/model-reader") == []
