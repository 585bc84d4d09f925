"""The daemon holding a dynamic AWS key for its whole life, on both servers, with
short TTLs (9 s, max 24 s): renewed, re-issued before the max TTL, the old
lease revoked once the new key is in the target and its consumer restarted,
at most two leases at any moment and one at rest - counted in Vault every few hundred milliseconds.
KServe's own storage initializer downloads with the key Vault made in moto
(IAM enforced); after the re-issue the old key is refused and the new one
works. SIGKILL and a restart: the new process finds its lease, 0 orphaned.
And leases re-issued before the Vault token that issued them ends."""

from __future__ import annotations

import base64
import json
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import hvac
import pytest
from kubernetes import client as k8s

from devenv import servers, vaultserver
from syncer.leasestore import store_name
from tests import seeds
from tests.awsmoto import VaultMoto
from tests.e2e.consumer import download, kserve_env_from_s3_secret
from tests.helpers import WriteConfig, secret_data
from tests.integration.cluster_tools import deployment, restarted
from tests.integration.daemon_helpers import Daemon, metric, wait_for
from tests.kubeobjects import data_of, meta
from tests.vaultsetup import (
    BOTH_SERVERS,
    aws_iam_user_role,
    enable_aws_engine,
    enable_jwt_auth,
    leases,
    projected_token,
    shipped_iam_policy,
    shipped_policy,
)

pytestmark = [pytest.mark.integration, pytest.mark.e2e, BOTH_SERVERS]
LEASES = "kserve_vault_sync_aws_leases"


@pytest.fixture
def moto() -> Iterator[VaultMoto]:
    with VaultMoto() as server:
        seeds.register("aws-daemon-moto-root", server.initial_key[1])
        yield server


def consumer_env(core: k8s.CoreV1Api, namespace: str) -> dict[str, str]:
    """What KServe's controller gives the storage initializer for our Secret."""
    data = secret_data(core, namespace, "s3-models")
    seeds.register("aws-daemon-key", data["AWS_SECRET_ACCESS_KEY"])
    annotations = meta(core.read_namespaced_secret("s3-models", namespace)).annotations
    return kserve_env_from_s3_secret(data, annotations or {})


def access_key(core: k8s.CoreV1Api, namespace: str) -> str | None:
    try:
        return secret_data(core, namespace, "s3-models")["AWS_ACCESS_KEY_ID"]
    except k8s.ApiException:
        return None


def store(core: k8s.CoreV1Api, namespace: str, instance: str) -> set[str]:
    """Lease IDs the lease store holds (current and retiring)."""
    secret = core.read_namespaced_secret(store_name(instance), namespace)
    record = json.loads(base64.b64decode(data_of(secret)["models"]))
    return {record["current"]["leaseId"]} | {r["leaseId"] for r in record["retiring"]}


def test_daemon_keeps_one_lease_through_reissue_and_sigkill(
        bao: hvac.Client, vault_server: vaultserver.DevVault, moto: VaultMoto,
        daemons: Callable[..., Daemon], write_config: WriteConfig, namespace: str,
        core: k8s.CoreV1Api) -> None:
    mount = f"aws-{namespace[-6:]}"
    prefix = f"{mount}/creds/reader"
    enable_aws_engine(bao, vault_server, mount, moto, lease="9s", max_lease="24s")
    aws_iam_user_role(bao, mount, "reader", policy=shipped_iam_policy())
    config = write_config([{
        "name": "models", "type": "s3",
        "vault": {"engine": "aws", "mount": mount, "role": "reader", "overlap": "2s",
                  "revokeAfter": "1s"},
        "s3": {"endpoint": moto.url, "region": "us-east-1", "verifySsl": False},
        "targets": [{"namespaces": [namespace], "secret": "s3-models",
                     "serviceAccount": "s3-sa", "rollout": True}]}], sync={"interval": "1s"})
    instance = json.loads(config.read_text())["sync"]["instance"]
    apps = k8s.AppsV1Api(core.api_client)
    # The client builds the model from a dict body.
    apps.create_namespaced_deployment(namespace, deployment(  # type: ignore[arg-type]
        "predictor", {"serviceAccountName": "s3-sa"}))
    daemon = daemons(config, "--state-namespace", namespace)
    first = wait_for(lambda: access_key(core, namespace), 60, "the first key")
    before = consumer_env(core, namespace)
    result = download(before, moto.uri)
    assert result.ok, result.output
    assert result.files == {moto.object_key: moto.object_bytes}

    # Watch Vault until the key was re-issued and the old lease revoked.
    counts: list[int] = []
    seen: set[str] = set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        live = leases(bao, prefix)
        counts.append(len(live))
        seen |= set(live)
        if access_key(core, namespace) != first and len(live) == 1:
            break
        time.sleep(0.3)
    log = daemon.output()
    assert access_key(core, namespace) != first, f"no re-issue within 120 s: {counts}"
    assert max(counts) <= 2 and counts[-1] == 1 and len(seen) == 2, counts
    assert "lease_renewed" in log and '"final": true' in log and "lease_revoked" in log
    # rollout: true - the consumer was restarted with the new key before the old one
    # was revoked (KServe reads the key at pod start).
    assert restarted(apps, namespace, "predictor")
    assert log.index('"event": "rollout"') < log.index('"event": "lease_revoked"')
    after = consumer_env(core, namespace)
    refused = download(before, moto.uri)  # a pod that started with the old key
    assert not refused.ok and "403" in refused.output
    assert download(after, moto.uri).ok
    scraped = daemon.scrape()
    assert metric(scraped, LEASES, 'credential="models",state="current"') == 1
    assert metric(scraped, LEASES, 'credential="models",state="retiring"') == 0
    # Revoked by the syncer, not merely ended by Vault at its max TTL.
    assert (metric(scraped, "kserve_vault_sync_vault_requests_total",
                   'operation="lease_revoke",status="ok"') or 0) >= 1

    # SIGKILL: no shutdown code runs. The next process finds the lease in its store.
    [held] = leases(bao, prefix)
    daemon.stop(signal.SIGKILL)
    second = daemons(config, "--state-namespace", namespace)
    wait_for(lambda: (metric(second.scrape(), "kserve_vault_sync_sync_runs_total",
                             'result="success"') or 0) >= 3, 60, "three cycles after restart")
    assert f'"lease": "...{held[-8:]}", "ttl"' in second.output()  # lease_found
    # 0 orphaned: every lease Vault holds is in the store, one IAM user per lease.
    live = leases(bao, prefix)
    assert set(live) <= store(core, namespace, instance) and 1 <= len(live) <= 2
    users = [u for u in moto.users() if u.startswith("vault-") and u != moto.user]
    assert len(users) == len(live)


def test_keys_outlive_the_tokens_that_issued_them(
        bao: hvac.Client, vault_server: vaultserver.DevVault, moto: VaultMoto,
        daemons: Callable[..., Daemon], write_config: WriteConfig, namespace: str,
        core: k8s.CoreV1Api, devenv: servers.Env, tmp_path: Path) -> None:
    """Vault revokes a token's leases when the token ends. The syncer logs in with jwt
    (tokens of 4 s, renewable to 10 s) and holds 1 h leases: before each token ends it
    logs in again and re-issues, so the key in the Secret always works, and no lease
    is found gone. With the shipped policy, as the syncer's only rights."""
    mount = f"aws-{namespace[-6:]}"
    enable_aws_engine(bao, vault_server, mount, moto, lease="1h", max_lease="2h")
    aws_iam_user_role(bao, mount, "model-reader", policy=shipped_iam_policy())
    bao.sys.create_or_update_policy(f"kvs-{mount}", shipped_policy(mount))
    core.create_namespaced_service_account(
        namespace, k8s.V1ServiceAccount(metadata=k8s.V1ObjectMeta(name="syncer")))
    enable_jwt_auth(bao, devenv, f"jwt-{namespace[-6:]}", discovery=False, audience="vault",
                    namespace=namespace, service_account="syncer", policies=[f"kvs-{mount}"],
                    token_ttl="4s", token_max_ttl="10s")
    token_file = tmp_path / "token"
    token_file.write_text(projected_token(core, namespace, "syncer", "vault"))
    config = write_config([{
        "name": "models", "type": "s3",
        "vault": {"engine": "aws", "mount": mount, "role": "model-reader", "overlap": "3s",
                  "revokeAfter": "1s"},
        "s3": {"endpoint": moto.url, "region": "us-east-1"},
        "targets": [{"namespaces": [namespace], "secret": "s3-models"}]}],
        vault={"auth": {"method": "jwt", "mount": f"jwt-{namespace[-6:]}", "role": "syncer",
                        "jwtPath": str(token_file)}}, sync={"interval": "1s"})
    daemon = daemons(config, "--state-namespace", namespace)
    wait_for(lambda: access_key(core, namespace), 60, "the first key")
    # Each new token brings a planned succession (the old lease retiring), never a
    # lease found gone with its token: two of them, two token lifetimes.
    succession = '"retiring": 1, "event": "lease_issued"'
    wait_for(lambda: daemon.output().count(succession) >= 2, 90, "two successions")
    log = daemon.output()
    assert '"event": "lease_gone"' not in log
    logins = metric(daemon.scrape(), "kserve_vault_sync_vault_requests_total",
                    'operation="login",status="ok"')
    assert logins is not None and logins >= 3
    data = secret_data(core, namespace, "s3-models")
    seeds.register("aws-token-bound-key", data["AWS_SECRET_ACCESS_KEY"])
    assert moto.can_read((data["AWS_ACCESS_KEY_ID"], data["AWS_SECRET_ACCESS_KEY"]))
    assert len(leases(bao, f"{mount}/creds/model-reader")) <= 2
