"""Vault-side setup the tests share, on OpenBao and HashiCorp Vault alike:
auth methods (jwt, cert) and the AWS secrets engine against moto.

Roles and policies come from the files a user copies (config/vault/, the
commands in docs/vault-setup.md), with only the names a test must make its
own replaced. Every difference between the two servers that a setup step
meets is handled here, next to a comment naming it (README "HashiCorp Vault
and OpenBao").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hvac
import pytest
from kubernetes import client as k8s

from devenv import servers, vaultserver
from tests.awsmoto import READ_MODEL, VaultMoto

# Parametrize a test (or a module's pytestmark) over both servers.
BOTH_SERVERS = pytest.mark.parametrize("vault_kind", vaultserver.KINDS, indirect=True)
SHIPPED = Path(__file__).resolve().parents[1] / "config" / "vault"


def shipped(name: str, **overrides: Any) -> dict[str, Any]:
    """A role definition from config/vault/ (what `vault write PATH @FILE` sends)."""
    role: dict[str, Any] = json.loads((SHIPPED / name).read_text())
    role.update(overrides)
    return role


def shipped_policy(mount: str) -> str:
    """config/vault/aws-policy.hcl for an engine mounted at ``mount`` instead of aws/."""
    return (SHIPPED / "aws-policy.hcl").read_text().replace('"aws/', f'"{mount}/') \
        .replace("/leases/renew/aws/", f"/leases/renew/{mount}/") \
        .replace("/leases/revoke/aws/", f"/leases/revoke/{mount}/")


def leases(client: hvac.Client, prefix: str) -> list[str]:
    """The lease IDs Vault holds under ``prefix`` (``MOUNT/creds/ROLE``), as root sees them."""
    try:
        found = client.adapter.request("LIST", f"/v1/sys/leases/lookup/{prefix}/")
    except hvac.exceptions.InvalidPath:  # both servers: 404 when there is none
        return []
    return sorted(f"{prefix}/{key}" for key in found["data"]["keys"])


def subject(namespace: str, service_account: str) -> str:
    return f"system:serviceaccount:{namespace}:{service_account}"


def projected_token(core: k8s.CoreV1Api, namespace: str, service_account: str,
                    audience: str, seconds: int = 600) -> str:
    """A ServiceAccount token for one audience, as the kubelet projects into a pod
    (the same TokenRequest call)."""
    request = k8s.AuthenticationV1TokenRequest(spec=k8s.V1TokenRequestSpec(
        audiences=[audience], expiration_seconds=seconds))
    status = core.create_namespaced_service_account_token(
        service_account, namespace, request).status
    assert status is not None and status.token, "TokenRequest returned no token"
    return str(status.token)


# -- jwt -----------------------------------------------------------------------


def allow_anonymous_issuer_discovery(kube_api: k8s.ApiClient) -> None:
    """Let unauthenticated clients read /.well-known/openid-configuration and
    /openid/v1/jwks (Kubernetes grants it only to ServiceAccounts by default),
    as a cluster must for a Vault that discovers the issuer's keys itself."""
    rbac = k8s.RbacAuthorizationV1Api(kube_api)
    try:
        rbac.create_cluster_role_binding({  # type: ignore[arg-type]
            "metadata": {"name": "kvs-anonymous-issuer-discovery"},
            "subjects": [{"kind": "Group", "name": "system:unauthenticated",
                          "apiGroup": "rbac.authorization.k8s.io"}],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": "system:service-account-issuer-discovery"}})
    except k8s.ApiException as exc:
        if exc.status != 409:  # already there: another test made it
            raise


def enable_jwt_auth(client: hvac.Client, env: servers.Env, mount: str, *, discovery: bool,
                    audience: str, namespace: str, service_account: str,
                    policies: list[str], **token: str) -> None:
    """A ``jwt`` mount that accepts this API server's ServiceAccount tokens for one
    audience and one ServiceAccount. ``discovery=False`` gives Vault the signing
    public key (for a Vault that cannot reach the API server); ``True`` lets Vault
    fetch the keys from the issuer (needs allow_anonymous_issuer_discovery)."""
    client.sys.enable_auth_method("jwt", path=mount)
    if discovery:
        config: dict[str, Any] = {"oidc_discovery_url": env.apiserver_url,
                                  "oidc_discovery_ca_pem": Path(env.ca_cert).read_text()}
    else:
        sa_pub = Path(env.dir) / "pki" / "sa.pub"
        config = {"jwt_validation_pubkeys": [sa_pub.read_text()],
                  "bound_issuer": env.apiserver_url}
    client.write(f"auth/{mount}/config", **config)
    client.write(f"auth/{mount}/role/syncer", **shipped(
        "jwt-role.json", bound_audiences=[audience],
        bound_subject=subject(namespace, service_account), token_policies=policies,
        **{"token_ttl": "10m", **token}))


def jwt_login(addr: str, mount: str, token: str) -> dict[str, Any]:
    response: dict[str, Any] = hvac.Client(url=addr).auth.jwt.jwt_login(
        role="syncer", jwt=token, path=mount)
    return response


# -- cert ----------------------------------------------------------------------


CERT_NAME = "kserve-vault-sync"  # the common name config/vault/cert-role.json allows


def enable_cert_auth(client: hvac.Client, mount: str, *, ca_cert: Path,
                     policies: list[str], **token: str) -> None:
    """A ``cert`` mount trusting client certificates signed by ``ca_cert`` (common
    name CERT_NAME), as config/vault/cert-role.json says."""
    client.sys.enable_auth_method("cert", path=mount)
    client.write(f"auth/{mount}/certs/syncer", **shipped(
        "cert-role.json", certificate=ca_cert.read_text(), token_policies=policies,
        **{"token_ttl": "10m", **token}))


def cert_login(server: vaultserver.DevVault, mount: str, cert: Path, key: Path
               ) -> dict[str, Any]:
    """Log in over the server's TLS listener presenting a client certificate."""
    client = hvac.Client(url=server.tls_addr, cert=(str(cert), str(key)),
                         verify=server.ca_cert)
    response: dict[str, Any] = client.adapter.post(f"/v1/auth/{mount}/login",
                                                   json={"name": "syncer"})
    return response


# -- AWS secrets engine --------------------------------------------------------


def enable_aws_engine(client: hvac.Client, server: vaultserver.DevVault, mount: str,
                      moto: VaultMoto, *, lease: str = "10m", max_lease: str = "30m") -> None:
    """The AWS engine at ``mount`` with moto as IAM and STS. Its type differs:
    built in as ``aws`` on HashiCorp Vault, an external plugin on OpenBao."""
    if not server.aws_type:
        raise RuntimeError(f"{server.kind} has no AWS secrets engine: build it with "
                           "scripts/dev-env build-vault before the dev environment starts")
    client.sys.enable_secrets_engine(server.aws_type, path=mount, config={
        "default_lease_ttl": lease, "max_lease_ttl": max_lease})
    access_key, secret_key = moto.initial_key
    client.write(f"{mount}/config/root", access_key=access_key, secret_key=secret_key,
                 region="us-east-1", iam_endpoint=moto.url, sts_endpoint=moto.url,
                 max_retries=0)


def aws_iam_user_role(client: hvac.Client, mount: str, role: str, *,
                      policy: Any = READ_MODEL) -> None:
    """Dynamic ``iam_user`` credentials: plain access keys (KServe cannot use STS)."""
    client.write(f"{mount}/roles/{role}", credential_type="iam_user",
                 policy_document=json.dumps(policy))


def shipped_iam_policy() -> Any:
    """config/vault/aws-model-reader-iam.json: read the models bucket (what KServe's
    storage initializer needs: ListBucket, GetObject). moto names the permission for
    HeadBucket after the call (s3:HeadBucket) where AWS checks s3:ListBucket, so it is
    added here for moto only."""
    policy: dict[str, Any] = json.loads((SHIPPED / "aws-model-reader-iam.json").read_text())
    policy["Statement"][0]["Action"].append("s3:HeadBucket")
    return policy


def aws_static_role(client: hvac.Client, mount: str, role: str, *, username: str,
                    rotation_period: str) -> None:
    """A static role: Vault owns ``username``'s access key and rotates it."""
    client.write(f"{mount}/static-roles/{role}", username=username,
                 rotation_period=rotation_period)


# What each server says to a cert login with a certificate from another CA, and
# without one (they differ; both are 400).
WRONG_CERT = {"openbao": "invalid certificate or no client certificate supplied",
              "hashicorp": "failed to match all constraints for this login certificate"}
NO_CERT = {"openbao": "no client certificate found",
           "hashicorp": "client certificate must be supplied"}
