"""The jwt and cert auth methods on both real servers, driven with hvac directly
(the syncer does not log in with them yet): what a correct login looks like,
and that the wrong audience, ServiceAccount or certificate is refused."""

from __future__ import annotations

from pathlib import Path

import hvac
import pytest
from kubernetes import client as k8s

from devenv import pki, servers, vaultserver
from tests import seeds
from tests.vaultsetup import (
    BOTH_SERVERS,
    CERT_NAME,
    NO_CERT,
    WRONG_CERT,
    allow_anonymous_issuer_discovery,
    cert_login,
    enable_cert_auth,
    enable_jwt_auth,
    jwt_login,
    projected_token,
)

pytestmark = [pytest.mark.integration, BOTH_SERVERS]
AUDIENCE = "vault.kserve-vault-sync.test"


def _policy(bao: hvac.Client, name: str, path: str) -> str:
    bao.sys.create_or_update_policy(name, f'path "secret/data/{path}" '
                                          '{ capabilities = ["read"] }')
    return name


def _reads(addr: str, token: str, path: str) -> dict[str, str]:
    client = hvac.Client(url=addr, token=token)
    data: dict[str, str] = client.secrets.kv.v2.read_secret_version(
        path, raise_on_deleted_version=True)["data"]["data"]
    return data


@pytest.mark.parametrize("discovery", [False, True], ids=["pubkeys", "discovery"])
def test_jwt_login_with_projected_token(
        bao: hvac.Client, vault_server: vaultserver.DevVault, devenv: servers.Env,
        core: k8s.CoreV1Api, kube_api: k8s.ApiClient, namespace: str, vault_prefix: str,
        discovery: bool) -> None:
    """A token for the bound audience and ServiceAccount logs in and reads what the
    policy allows; another audience or ServiceAccount is refused."""
    if discovery:
        allow_anonymous_issuer_discovery(kube_api)
    value = seeds.fake("jwt-read")
    bao.secrets.kv.v2.create_or_update_secret(f"{vault_prefix}/s3", secret={"k": value})
    mount = f"jwt-{namespace[-6:]}"
    policy = _policy(bao, mount, f"{vault_prefix}/*")
    enable_jwt_auth(bao, devenv, mount, discovery=discovery, audience=AUDIENCE,
                    namespace=namespace, service_account="syncer", policies=[policy])
    for name in ("syncer", "intruder"):
        core.create_namespaced_service_account(
            namespace, k8s.V1ServiceAccount(metadata=k8s.V1ObjectMeta(name=name)))

    login = jwt_login(vault_server.addr, mount,
                      projected_token(core, namespace, "syncer", AUDIENCE))
    token = login["auth"]["client_token"]
    seeds.register("jwt-vault-token", token)
    assert policy in login["auth"]["policies"]
    assert 0 < login["auth"]["lease_duration"] <= 600
    assert _reads(vault_server.addr, token, f"{vault_prefix}/s3") == {"k": value}

    with pytest.raises(hvac.exceptions.InvalidRequest, match="aud"):
        jwt_login(vault_server.addr, mount,
                  projected_token(core, namespace, "syncer", "some-other-audience"))
    with pytest.raises(hvac.exceptions.InvalidRequest, match="sub"):
        jwt_login(vault_server.addr, mount,
                  projected_token(core, namespace, "intruder", AUDIENCE))


def test_cert_login_with_client_certificate(
        bao: hvac.Client, vault_server: vaultserver.DevVault, tmp_path: Path,
        vault_prefix: str, namespace: str) -> None:
    """A client certificate from the trusted CA logs in over TLS; one from another
    CA, or none, is refused."""
    pki.make_client_ca(tmp_path, "client-ca")
    cert, key = pki.issue_client_cert(tmp_path, "client-ca", CERT_NAME)
    pki.make_client_ca(tmp_path, "other-ca")
    wrong_cert, wrong_key = pki.issue_client_cert(tmp_path, "other-ca", "intruder")
    value = seeds.fake("cert-read")
    bao.secrets.kv.v2.create_or_update_secret(f"{vault_prefix}/s3", secret={"k": value})
    mount = f"cert-{namespace[-6:]}"
    policy = _policy(bao, mount, f"{vault_prefix}/*")
    enable_cert_auth(bao, mount, ca_cert=tmp_path / "client-ca.crt", policies=[policy])

    login = cert_login(vault_server, mount, cert, key)
    token = login["auth"]["client_token"]
    seeds.register("cert-vault-token", token)
    assert policy in login["auth"]["policies"]
    assert login["auth"]["metadata"]["common_name"] == CERT_NAME
    assert _reads(vault_server.addr, token, f"{vault_prefix}/s3") == {"k": value}

    # Both refuse with 400; the texts differ (README "HashiCorp Vault and OpenBao").
    with pytest.raises(hvac.exceptions.InvalidRequest) as refused:
        cert_login(vault_server, mount, wrong_cert, wrong_key)
    assert WRONG_CERT[vault_server.kind] in str(refused.value)
    with pytest.raises(hvac.exceptions.InvalidRequest) as refused:  # plain TLS, no certificate
        hvac.Client(url=vault_server.tls_addr, verify=vault_server.ca_cert).adapter.post(
            f"/v1/auth/{mount}/login", json={"name": "syncer"})
    assert NO_CERT[vault_server.kind] in str(refused.value)
