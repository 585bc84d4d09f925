"""The dev environment is real: a kube-apiserver with RBAC, token signing and an
audit log over etcd, and Vault servers (OpenBao and HashiCorp Vault) whose
kubernetes auth reviews tokens issued by that API server."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import hvac
import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from devenv import binaries, servers, vaultbuild, vaultserver
from tests import seeds
from tests.helpers import AuditLog, WriteConfig, enable_kubernetes_auth
from tests.vaultsetup import BOTH_SERVERS

pytestmark = pytest.mark.integration
# The versions the dev environment runs (README "HashiCorp Vault and OpenBao").
EXPECTED_VERSION = {"openbao": "2.", "hashicorp": vaultbuild.VAULT_VERSION.removeprefix("v")}


def _sa_token(core: k8s.CoreV1Api, namespace: str, name: str) -> str:
    core.create_namespaced_service_account(
        namespace, k8s.V1ServiceAccount(metadata=k8s.V1ObjectMeta(name=name)))
    request = k8s.AuthenticationV1TokenRequest(
        spec=k8s.V1TokenRequestSpec(audiences=[], expiration_seconds=600))
    status = core.create_namespaced_service_account_token(name, namespace, request).status
    assert status is not None and status.token is not None
    return status.token


class TestKubeApiserver:
    def test_secret_round_trip_with_admin_kubeconfig(self, core: k8s.CoreV1Api,
                                                     namespace: str) -> None:
        """A Secret created with the admin kubeconfig reads back byte for byte."""
        value = seeds.fake("devenv-roundtrip")
        core.create_namespaced_secret(namespace, k8s.V1Secret(
            metadata=k8s.V1ObjectMeta(name="probe"), string_data={"k": value}))
        from tests.helpers import secret_data
        assert secret_data(core, namespace, "probe") == {"k": value}

    def test_rbac_forbids_a_serviceaccount_token(self, core: k8s.CoreV1Api, namespace: str,
                                                  devenv: servers.Env) -> None:
        """RBAC is on: a fresh ServiceAccount may not list Secrets (403)."""
        token = _sa_token(core, namespace, "nobody")
        configuration = k8s.Configuration()
        configuration.host = devenv.apiserver_url
        configuration.ssl_ca_cert = devenv.ca_cert
        configuration.api_key = {"BearerToken": token}
        configuration.api_key_prefix = {"BearerToken": "Bearer"}
        with pytest.raises(ApiException) as err:
            k8s.CoreV1Api(k8s.ApiClient(configuration)).list_namespaced_secret(namespace)
        assert err.value.status == 403

    def test_audit_log_records_secret_writes(self, core: k8s.CoreV1Api, namespace: str,
                                             audit: AuditLog) -> None:
        core.create_namespaced_secret(namespace, k8s.V1Secret(
            metadata=k8s.V1ObjectMeta(name="audited"), string_data={"k": "not-a-secret"}))
        writes = audit.writes(namespaces={namespace})
        assert [(e["verb"], e["objectRef"]["resource"], e["objectRef"]["name"])
                for e in writes] == [("create", "secrets", "audited")]


@BOTH_SERVERS
class TestVaultServers:
    def test_kv_v2_write_and_read(self, bao: hvac.Client, vault_prefix: str,
                                  vault_server: vaultserver.DevVault,
                                  write_config: WriteConfig) -> None:
        """KV v2 on the parametrized server: the fixtures (bao, write_config) point at
        it, and it is the kind and version it says it is."""
        value = seeds.fake("devenv-kv")
        bao.secrets.kv.v2.create_or_update_secret(f"{vault_prefix}/x", secret={"k": value})
        read = bao.secrets.kv.v2.read_secret_version(f"{vault_prefix}/x",
                                                     raise_on_deleted_version=True)
        assert read["data"]["data"] == {"k": value}
        assert read["data"]["metadata"]["version"] == 1
        health = hvac.Client(url=vault_server.addr).sys.read_health_status(method="GET")
        assert health["sealed"] is False
        assert health["version"].startswith(EXPECTED_VERSION[vault_server.kind])
        config = json.loads(write_config([]).read_text())
        assert config["vault"]["address"] == vault_server.addr == bao.url

    def test_kubernetes_auth_reviews_a_token_from_this_apiserver(
            self, bao: hvac.Client, core: k8s.CoreV1Api, namespace: str,
            devenv: servers.Env, vault_server: vaultserver.DevVault) -> None:
        """The server's kubernetes auth logs in with a ServiceAccount token issued here:
        OpenBao sends a TokenReview to this kube-apiserver (the round trip)."""
        mount = f"k8s-{namespace[-6:]}"
        enable_kubernetes_auth(bao, devenv, mount, namespace=namespace,
                               service_account="syncer", policies=["default"])
        token = _sa_token(core, namespace, "syncer")
        client = hvac.Client(url=vault_server.addr)
        login = client.auth.kubernetes.login(role="syncer", jwt=token, mount_point=mount)
        assert login["auth"]["metadata"]["service_account_namespace"] == namespace
        assert client.is_authenticated()
        # A token for another ServiceAccount is refused by the role binding.
        other = _sa_token(core, namespace, "intruder")
        with pytest.raises(hvac.exceptions.VaultError):
            hvac.Client(url=vault_server.addr).auth.kubernetes.login(
                role="syncer", jwt=other, mount_point=mount)


class TestLifecycle:
    def test_up_twice_is_refused_and_down_stops_every_pid(self, tmp_path: Path) -> None:
        """A second `up` on a used dir is refused; `down` leaves no process behind."""
        env = servers.up(tmp_path / "env")
        pids = [int(p["pid"]) for p in env.processes.values()]  # type: ignore[call-overload]
        assert len(pids) == 3
        try:
            with pytest.raises(servers.DevEnvError, match="already used"):
                servers.up(tmp_path / "env")
        finally:
            stopped = servers.down(tmp_path / "env")
        assert sorted(stopped) == sorted(pids)
        for pid in pids:
            assert not Path(f"/proc/{pid}").exists() or \
                Path(f"/proc/{pid}/status").read_text().find("zombie") >= 0, pid

    def test_dev_env_with_hashicorp_vault(self, tmp_path: Path) -> None:
        """`dev-env up --vault hashicorp` runs HashiCorp Vault in place of OpenBao, with
        the dev CA's TLS listener and the AWS engine; its exports name it."""
        folder = tmp_path / "env"
        up = subprocess.run([sys.executable, "-m", "devenv", "up", "--dir", str(folder),
                             "--vault", "hashicorp"], capture_output=True, text=True,
                            timeout=300, check=False, env={**os.environ, "KVS_VAULT": "bogus"})
        try:
            assert up.returncode == 0, up.stderr
            assert "export KVS_VAULT=hashicorp" in up.stdout
            env = servers.load(folder)
            assert env.vault == "hashicorp" and sorted(env.processes) == [
                "etcd", "kube-apiserver", "vault"]
            server = env.vault_server()
            assert server.addr == env.vault_addr and server.aws_type == "aws"
            health = hvac.Client(url=server.tls_addr, verify=server.ca_cert
                                 ).sys.read_health_status(method="GET")
            assert health["version"] == vaultbuild.VAULT_VERSION.removeprefix("v")
        finally:
            servers.down(folder, quiet=True)
        # An unknown server name is refused before anything starts.
        bad = subprocess.run([sys.executable, "-m", "devenv", "up", "--dir",
                              str(tmp_path / "bad")], capture_output=True, text=True,
                             timeout=120, check=False, env={**os.environ, "KVS_VAULT": "bogus"})
        assert bad.returncode == 1 and "unknown Vault server 'bogus'" in bad.stderr
        assert not (tmp_path / "bad" / servers.STATE_FILE).exists()

    def test_a_server_that_fails_prints_its_log_tail(self, tmp_path: Path) -> None:
        """Fault injection: an etcd that exits at once; `up` fails with its log and
        leaves nothing running."""
        found = binaries.find()
        assert found is not None
        fake = tmp_path / "etcd"
        fake.write_text("#!/bin/sh\necho 'etcd: cannot bind (injected failure)'\nexit 3\n")
        fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
        broken = binaries.Binaries(found.kube_apiserver, fake, found.kubectl, "test")
        with pytest.raises(servers.DevEnvError) as err:
            servers.up(tmp_path / "env", broken)
        assert "injected failure" in str(err.value)
        assert "exited with code 3" in str(err.value)
        assert not (tmp_path / "env" / servers.STATE_FILE).exists()


def test_staging_modules_are_read_from_kubernetes_go_mod() -> None:
    mod = ("replace (\n\tk8s.io/api => ./staging/src/k8s.io/api\n"
           "\tk8s.io/client-go => ./staging/src/k8s.io/client-go\n)\n"
           "require go.etcd.io/etcd/server/v3 v3.6.4 // indirect\n")
    assert binaries._staging_modules(mod) == ["k8s.io/api", "k8s.io/client-go"]
    assert binaries._etcd_version(mod) == "v3.6.4"


def test_kubebuilder_assets_win(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("kube-apiserver", "etcd", "kubectl"):
        (tmp_path / name).write_text("")
    monkeypatch.setenv("KUBEBUILDER_ASSETS", str(tmp_path))
    found = binaries.find()
    assert found is not None and found.etcd == tmp_path / "etcd"
    assert os.fspath(found.kubectl) == os.fspath(tmp_path / "kubectl")
