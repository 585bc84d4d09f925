"""`vault.namespace` on both servers. OpenBao has namespaces; HashiCorp Vault has
them only in its Enterprise edition, and its community edition ignores the
X-Vault-Namespace header - a read meant for a namespace would silently get the
root namespace's secret at the same path. The syncer asks sys/health first
(`enterprise: false`) and refuses, naming the reason."""

from __future__ import annotations

from collections.abc import Callable

import hvac
import pytest
from kubernetes import client as k8s

from devenv import vaultserver
from tests import seeds
from tests.helpers import WriteConfig, secret_data
from tests.kubeobjects import meta

pytestmark = pytest.mark.integration
Cli = Callable[..., tuple[int, str]]



@pytest.mark.parametrize("vault_kind", vaultserver.KINDS, indirect=True)
def test_namespace_is_read_or_refused_never_swapped(
        bao: hvac.Client, vault_server: vaultserver.DevVault, cli: Cli,
        write_config: WriteConfig, namespace: str, core: k8s.CoreV1Api) -> None:
    """The same path holds one token in the root namespace and another in `team-…`.
    A mapping for the namespace syncs the namespace's token, or fails and writes
    nothing - it never syncs the root namespace's token."""
    team = f"team-{namespace[-6:]}"
    path = f"ns-test/{namespace}/hf"
    root_token = seeds.fake("ns-root-hf", "hf_")
    bao.secrets.kv.v2.create_or_update_secret(path, secret={"token": root_token})
    team_token = seeds.fake("ns-team-hf", "hf_")
    if vault_server.kind == vaultserver.OPENBAO:
        bao.sys.create_namespace(team)
        inside = hvac.Client(url=vault_server.addr, token=vault_server.token, namespace=team)
        inside.sys.enable_secrets_engine("kv", path="secret", options={"version": "2"})
        inside.secrets.kv.v2.create_or_update_secret(path, secret={"token": team_token})
    else:
        with pytest.raises(hvac.exceptions.InvalidPath, match="enterprise-only"):
            bao.sys.create_namespace(team)
    entry = {"name": "hf", "type": "hf", "vault": {"path": path, "keys": {"token": "token"}},
             "targets": [{"namespaces": [namespace], "secret": "storage-config",
                          "serviceAccount": "hfserviceacc"}]}
    code, out = cli("once", "-c", str(write_config([entry], vault={"namespace": team})))
    synced = {meta(s).name for s in core.list_namespaced_secret(namespace).items}
    if "storage-config" in synced:
        # Compared as a bool: a failing comparison must not print either token.
        right = secret_data(core, namespace, "storage-config")["HF_TOKEN"] == team_token
        assert right, "synced a token that is not the namespace's"
        assert code == 0, out
    else:
        assert code == 1 and "namespace" in out, out
    # Which of the two happens is the server's edition, not chance.
    if vault_server.kind == vaultserver.HASHICORP:
        assert f"vault.namespace '{team}': this is HashiCorp Vault's community edition" in out
        assert "storage-config" not in synced
    else:
        assert "storage-config" in synced
