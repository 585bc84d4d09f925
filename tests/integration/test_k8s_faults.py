"""Kubernetes-side and Vault-lifecycle faults on the real servers: 403 in one
namespace only, 422 from an oversize shared Secret, a terminating namespace, a
pinned KV version that does not exist, and a short-lived Vault token in a
long-running daemon (renewed, then a fresh login at its max TTL)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import hvac
import pytest
from kubernetes import client as k8s

from devenv import servers, vaultserver
from tests import seeds
from tests.entries import hf_entry, put_s3, s3_entry
from tests.helpers import WriteConfig, sa_kubeconfig, secret_data
from tests.integration.daemon_helpers import Daemon, metric, wait_for
from tests.kubeobjects import data_of, meta
from tests.vaultsetup import BOTH_SERVERS

pytestmark = pytest.mark.integration
Cli = Callable[..., tuple[int, str]]
BIN = Path(sys.executable).parent


def test_forbidden_in_one_namespace_only(kube_api: k8s.ApiClient, core: k8s.CoreV1Api,
                                         bao: hvac.Client, devenv: servers.Env,
                                         vault_prefix: str, namespace: str,
                                         tmp_path: Path, write_config: WriteConfig) -> None:
    """Namespace-scoped RBAC bound in one target namespace but not the other: the
    bound one syncs, the other is reported, exit 1."""
    denied = f"{namespace}-denied"
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=denied)))
    home = namespace  # the syncer's ServiceAccount lives in the allowed namespace
    core.create_namespaced_service_account(home, k8s.V1ServiceAccount(
        metadata=k8s.V1ObjectMeta(name="syncer")))
    rbac = k8s.RbacAuthorizationV1Api(kube_api)
    # A dict body: the client builds the model from it.
    rbac.create_cluster_role({  # type: ignore[arg-type]
        "metadata": {"name": f"{namespace}-target"}, "rules": [
            {"apiGroups": [""], "resources": ["secrets", "serviceaccounts"],
             "verbs": ["list", "get", "create", "patch"]}]})
    # A dict body: the client builds the model from it.
    rbac.create_cluster_role({  # type: ignore[arg-type]
        "metadata": {"name": f"{namespace}-ns"}, "rules": [
            {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list"]}]})
    subject = [{"kind": "ServiceAccount", "name": "syncer", "namespace": home}]
    # A dict body: the client builds the model from it.
    rbac.create_cluster_role_binding({  # type: ignore[arg-type]
        "metadata": {"name": f"{namespace}-ns"}, "subjects": subject,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": f"{namespace}-ns"}})
    # A dict body: the client builds the model from it.
    rbac.create_namespaced_role_binding(namespace, {  # type: ignore[arg-type]
        "metadata": {"name": "syncer"}, "subjects": subject,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": f"{namespace}-target"}})
    kubeconfig = sa_kubeconfig(core, devenv, home, "syncer",
                               tmp_path / "kubeconfig")
    put_s3(bao, f"{vault_prefix}/s3")
    config = write_config([s3_entry("s3", f"{vault_prefix}/s3", [namespace, denied])],
                          sync={"namespaceScoped": True})
    result = subprocess.run([str(BIN / "kserve-vault-sync"), "once", "-c", str(config),
                             "--kubeconfig", str(kubeconfig)], capture_output=True, text=True,
                            check=False)
    print(result.stdout, result.stderr)
    assert result.returncode == 1
    assert secret_data(core, namespace, "s3-secret")
    assert core.list_namespaced_secret(denied).items == []
    denied_rows = [line for line in result.stdout.splitlines() if denied in line]
    assert denied_rows and all(" error " in line and "403" in line for line in denied_rows)


def test_oversize_shared_secret_is_rejected_others_sync(
        core: k8s.CoreV1Api, bao: hvac.Client, cli: Cli, write_config: WriteConfig,
        vault_prefix: str, namespace: str) -> None:
    """A hand-written 1000 KiB key leaves no room for ours: the API server answers 422
    for storage-config, its content stays as it was, s3-secret still syncs."""
    big = base64.b64encode(b"x" * (1000 * 1024)).decode()
    core.create_namespaced_secret(namespace, k8s.V1Secret(
        metadata=k8s.V1ObjectMeta(name="storage-config"), data={"huge": big}))
    _, secret = put_s3(bao, f"{vault_prefix}/s3")
    bao.secrets.kv.v2.create_or_update_secret(f"{vault_prefix}/hf", secret={
        "token": seeds.fake("hf-big", "hf_") + "x" * (60 * 1024)})
    config = write_config([s3_entry("s3", f"{vault_prefix}/s3", [namespace]),
                           hf_entry("hf", f"{vault_prefix}/hf", [namespace])])
    code, out = cli("once", "-c", str(config))
    assert code == 1
    [row] = [line for line in out.splitlines()
             if line.startswith("Secret") and "storage-config" in line]
    assert " error " in row and "422" in row
    assert set(data_of(core.read_namespaced_secret("storage-config", namespace))) == {"huge"}
    assert secret_data(core, namespace, "s3-secret")["AWS_SECRET_ACCESS_KEY"] == secret
    # hfserviceacc must not list a storage-config we could not write.
    names = [meta(s).name for s in core.list_namespaced_service_account(namespace).items]
    assert "s3-sa" in names


@BOTH_SERVERS
def test_terminating_namespace_and_missing_version(
        core: k8s.CoreV1Api, bao: hvac.Client, cli: Cli, write_config: WriteConfig,
        vault_prefix: str, namespace: str) -> None:
    doomed = f"{namespace}-doomed"
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=doomed)))
    core.create_namespaced_secret(doomed, k8s.V1Secret(
        metadata=k8s.V1ObjectMeta(name="keep", finalizers=["example.com/hold"]),
        string_data={"k": "v"}))
    core.delete_namespace(doomed)  # no namespace controller here: it stays Terminating

    def terminating() -> bool:
        status = core.read_namespace(doomed).status
        assert status is not None
        return status.phase == "Terminating"

    wait_for(terminating, what="namespace terminating")
    put_s3(bao, f"{vault_prefix}/s3")
    code, out = cli("once", "-c", str(write_config(
        [s3_entry("s3", f"{vault_prefix}/s3", [namespace, doomed])])))
    assert code == 1 and f"namespace '{doomed}' is terminating" in out
    assert secret_data(core, namespace, "s3-secret")
    pinned = s3_entry("s3", f"{vault_prefix}/s3", [namespace])
    pinned["vault"]["version"] = 99
    code, out = cli("once", "-c", str(write_config([pinned])))
    assert code == 1 and f"read secret/{vault_prefix}/s3@99: not found" in out


@BOTH_SERVERS
def test_short_lived_token_is_renewed_then_replaced(
        bao: hvac.Client, core: k8s.CoreV1Api, devenv: servers.Env, vault_prefix: str,
        namespace: str, tmp_path: Path, vault_server: vaultserver.DevVault) -> None:
    """AppRole tokens live 4 s (renewable to 8 s). Over ~14 s of 1 s cycles the daemon
    renews them and logs in again at the max TTL; no cycle fails for it."""
    mount = f"ar-short-{namespace[-6:]}"
    bao.sys.enable_auth_method("approle", path=mount)
    bao.sys.create_or_update_policy(f"{mount}-read", f'path "secret/data/{vault_prefix}/*" '
                                                     '{ capabilities = ["read"] }')
    bao.write(f"auth/{mount}/role/syncer", token_policies=[f"{mount}-read"], token_ttl="4s",
              token_max_ttl="8s")
    role_id = bao.read(f"auth/{mount}/role/syncer/role-id")["data"]["role_id"]
    secret_id = bao.write(f"auth/{mount}/role/syncer/secret-id")["data"]["secret_id"]
    seeds.register("short-secret-id", secret_id)
    (tmp_path / "sid").write_text(secret_id)
    put_s3(bao, f"{vault_prefix}/s3")
    config = tmp_path / "c.yaml"
    config.write_text(json.dumps({
        "vault": {"address": vault_server.addr,
                  "auth": {"method": "approle", "mount": mount, "roleId": role_id,
                           "secretIdFile": str(tmp_path / "sid")}},
        "sync": {"interval": "1s", "jitter": "0%"},
        "credentials": [s3_entry("s3", f"{vault_prefix}/s3", [namespace])]}))
    daemon = Daemon(config, devenv, tmp_path / "daemon.log")
    try:
        wait_for(lambda: core.list_namespaced_secret(namespace).items, what="first sync")
        time.sleep(14)
        text = daemon.scrape()
        logins = metric(text, "kserve_vault_sync_vault_requests_total",
                        'operation="login",status="ok"')
        renewals = metric(text, "kserve_vault_sync_vault_requests_total",
                          'operation="renew",status="ok"')
        assert logins is not None and 2 <= logins <= 6, logins  # ~one per 8 s max TTL
        assert renewals is not None and renewals >= 1
        assert metric(text, "kserve_vault_sync_sync_runs_total", 'result="partial"') is None
        ttl = metric(text, "kserve_vault_sync_vault_token_ttl_seconds")
        assert ttl is not None and 0 <= ttl <= 8
    finally:
        assert daemon.stop() == 0
