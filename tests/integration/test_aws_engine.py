"""The AWS secrets engine on both real servers (built into HashiCorp Vault; its
external plugin on OpenBao) issuing real IAM keys in moto: what the syncer
reads from ``aws/creds/ROLE`` and ``aws/static-creds/NAME``, and a static
role's rotation followed by the syncer into KServe's storage initializer."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import hvac
import pytest
from kubernetes import client as k8s

from devenv import servers, vaultserver
from tests import seeds
from tests.awsmoto import VaultMoto
from tests.e2e.consumer import download, kserve_env_from_s3_secret
from tests.helpers import secret_data
from tests.integration.daemon_helpers import Daemon, metric, wait_for
from tests.kubeobjects import meta
from tests.vaultsetup import (
    BOTH_SERVERS,
    aws_iam_user_role,
    aws_static_role,
    enable_aws_engine,
    shipped_iam_policy,
)

pytestmark = pytest.mark.integration
AGE = "kserve_vault_sync_aws_key_age_seconds"


@pytest.fixture
def moto() -> Iterator[VaultMoto]:
    with VaultMoto() as server:
        seeds.register("vault-moto-root-secret", server.initial_key[1])
        yield server


def _key(data: dict[str, str], label: str) -> tuple[str, str]:
    seeds.register(label, data["secret_key"])
    return data["access_key"], data["secret_key"]


@BOTH_SERVERS
def test_iam_user_credentials_are_leased_renewed_and_revoked(
        bao: hvac.Client, vault_server: vaultserver.DevVault, moto: VaultMoto,
        namespace: str) -> None:
    """aws/creds/ROLE makes an IAM user with its own key, under a renewable lease;
    revoking the lease deletes the user, and the key stops working."""
    mount = f"aws-{namespace[-6:]}"
    enable_aws_engine(bao, vault_server, mount, moto, lease="2m", max_lease="5m")
    aws_iam_user_role(bao, mount, "reader")
    before = moto.users()

    issued = bao.read(f"{mount}/creds/reader")
    key = _key(issued["data"], "aws-iam-user-secret")
    assert issued["renewable"] is True and issued["lease_duration"] == 120
    assert issued["lease_id"].startswith(f"{mount}/creds/reader/")
    assert issued["data"]["session_token"] is None  # iam_user: a plain key, no STS
    [made] = sorted(set(moto.users()) - set(before))
    assert made.startswith("vault-")
    assert moto.access_keys(made) == [key[0]]
    assert moto.can_read(key)

    renewed = bao.sys.renew_lease(issued["lease_id"], increment=60)
    assert renewed["lease_id"] == issued["lease_id"] and 0 < renewed["lease_duration"] <= 120
    bao.sys.revoke_lease(issued["lease_id"])
    assert moto.users() == before
    assert not moto.can_read(key)
    with pytest.raises(hvac.exceptions.InvalidRequest):
        bao.sys.renew_lease(issued["lease_id"])


@BOTH_SERVERS
def test_static_role_owns_an_existing_users_key(
        bao: hvac.Client, vault_server: vaultserver.DevVault, moto: VaultMoto,
        namespace: str) -> None:
    """aws/static-creds/NAME returns the key Vault made for an existing user: no
    lease, the same key on every read until Vault rotates it."""
    mount = f"aws-{namespace[-6:]}"
    enable_aws_engine(bao, vault_server, mount, moto)
    moto.create_user("model-reader")
    aws_static_role(bao, mount, "models", username="model-reader", rotation_period="1h")

    first = bao.read(f"{mount}/static-creds/models")
    key = _key(first["data"], "aws-static-secret")
    assert first["lease_id"] == "" and first["lease_duration"] == 0
    # HashiCorp Vault v1.18.0 answers with the key only: nothing announces the next rotation.
    assert sorted(first["data"]) == ["access_key", "secret_key"]
    assert moto.access_keys("model-reader") == [key[0]]
    assert moto.can_read(key)
    assert bao.read(f"{mount}/static-creds/models")["data"] == first["data"]
    role = bao.read(f"{mount}/static-roles/models")["data"]
    assert role["username"] == "model-reader" and role["rotation_period"] == 3600


def test_static_roles_rotate_on_both_servers_and_the_syncer_follows(
        devenv: servers.Env, moto: VaultMoto, tmp_path: Path, namespace: str,
        core: k8s.CoreV1Api, daemons: Callable[..., Daemon]) -> None:
    """With the shortest rotation_period (1 minute), each server replaces the key by
    itself; a syncer daemon per server (staticRole) puts the new key in its Secret
    within an interval, KServe's storage initializer downloads with it, and the key's
    age restarts. The previous key stays valid until the rotation after (IAM allows
    two). Both servers rotate at once so the test waits one period, not two."""
    started: dict[str, tuple[hvac.Client, str, str, Daemon]] = {}
    for kind in vaultserver.KINDS:
        server = servers.add_vault(Path(devenv.dir), kind)
        client = hvac.Client(url=server.addr, token=server.token)
        mount, user = f"aws-rot-{tmp_path.name[-6:]}", f"rotated-{kind}"
        enable_aws_engine(client, server, mount, moto)
        moto.create_user(user, shipped_iam_policy())
        aws_static_role(client, mount, "models", username=user, rotation_period="60s")
        key = _key(client.read(f"{mount}/static-creds/models")["data"], "aws-rot-1")
        config = tmp_path / f"{kind}.json"
        config.write_text(json.dumps({
            "vault": {"address": server.addr, "auth": {"method": "token",
                                                       "token": server.token}},
            "sync": {"interval": "2s", "instance": f"rot-{kind}"},
            "credentials": [{"name": "models", "type": "s3",
                             "vault": {"engine": "aws", "mount": mount, "staticRole": "models"},
                             "s3": {"endpoint": moto.url, "region": "us-east-1"},
                             "targets": [{"namespaces": [namespace],
                                          "secret": f"s3-{kind}"}]}]}))
        started[kind] = (client, mount, key[0], daemons(config))
    for kind, (_, _, first, _) in started.items():
        def first_synced(kind: str = kind, first: str = first) -> bool:
            return _synced(core, namespace, kind) == first

        wait_for(first_synced, 60, f"{kind}: the first key synced")
    # Vault checks its rotation queue once a minute: allow two checks and some slack.
    deadline = time.monotonic() + 200
    rotated: dict[str, tuple[str, str]] = {}
    ages: dict[str, float] = {}
    while len(rotated) < len(started) and time.monotonic() < deadline:
        for kind, (client, mount, first, daemon) in started.items():
            data = client.read(f"{mount}/static-creds/models")["data"]
            if kind not in rotated and data["access_key"] != first:
                rotated[kind] = _key(data, "aws-rot-2")
            elif kind not in rotated:
                ages[kind] = metric(daemon.scrape(), AGE, 'credential="models"') or 0
        time.sleep(2)
    assert sorted(rotated) == sorted(started), f"no rotation within 200 s: {sorted(rotated)}"
    for kind, (_, _, first, daemon) in started.items():
        new = rotated[kind]
        def rotation_synced(kind: str = kind, new: tuple[str, str] = new) -> bool:
            return _synced(core, namespace, kind) == new[0]

        wait_for(rotation_synced, 30, f"{kind}: the rotated key synced")
        assert moto.access_keys(f"rotated-{kind}") == sorted([first, new[0]])
        secret = core.read_namespaced_secret(f"s3-{kind}", namespace)
        env = kserve_env_from_s3_secret(secret_data(core, namespace, f"s3-{kind}"),
                                        meta(secret).annotations or {})
        result = download(env, moto.uri)
        assert result.ok, result.output
        # The key's age restarted at the rotation (first seen by this daemon then).
        age = metric(daemon.scrape(), AGE, 'credential="models"')
        assert age is not None and age < ages[kind], (age, ages[kind])


def _synced(core: k8s.CoreV1Api, namespace: str, kind: str) -> str | None:
    try:
        return secret_data(core, namespace, f"s3-{kind}")["AWS_ACCESS_KEY_ID"]
    except k8s.ApiException:
        return None
