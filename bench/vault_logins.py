"""Logins per hour per auth method (part of bench/vault_rotation.py).

One daemon per (server, method) - approle, kubernetes, jwt, cert - each syncing
one KV path every second, with tokens that live 10 s and renew up to 30 s. The
login and renewal counters are read from /metrics after a warm-up and at the
end; the rate over that window is scaled to an hour. One login per token
lifetime means 3600 / 30 = 120 an hour here - and one a day with the 1 h / 24 h
roles of docs/vault-setup.md.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hvac
from kubernetes import client as k8s

from bench.vaultbench import Syncer, write_config
from devenv import pki, servers, vaultserver
from tests.helpers import enable_kubernetes_auth, sa_token
from tests.vaultsetup import CERT_NAME, enable_cert_auth, enable_jwt_auth, projected_token

METHODS = ("approle", "kubernetes", "jwt", "cert")
TTL, MAX_TTL = "10s", "30s"
REQUESTS = "kserve_vault_sync_vault_requests_total"


@dataclass
class LoginRate:
    server: str
    method: str
    seconds: float
    logins: float
    renewals: float
    cycles: float

    def per_hour(self, count: float) -> float:
        return count * 3600 / self.seconds


def _auth(method: str, bao: hvac.Client, *, env: servers.Env, core: k8s.CoreV1Api,
          namespace: str, folder: Path, policy: str) -> dict[str, Any]:
    """Set ``method`` up at its own mount; the syncer's auth settings for it."""
    mount = f"bench-{method}"
    token = {"token_ttl": TTL, "token_max_ttl": MAX_TTL}
    if method == "approle":
        bao.sys.enable_auth_method("approle", path=mount)
        bao.write(f"auth/{mount}/role/syncer", token_policies=[policy], **token)
        role_id = bao.read(f"auth/{mount}/role/syncer/role-id")["data"]["role_id"]
        secret = folder / "secret-id"
        secret.write_text(bao.write(f"auth/{mount}/role/syncer/secret-id")["data"]["secret_id"])
        return {"method": "approle", "mount": mount, "roleId": role_id,
                "secretIdFile": str(secret)}
    if method == "kubernetes":
        enable_kubernetes_auth(bao, env, mount, namespace=namespace, service_account="syncer",
                               policies=[policy])
        bao.write(f"auth/{mount}/role/syncer", **token)
        path = folder / "sa-token"
        path.write_text(sa_token(core, namespace, "syncer"))
        return {"method": "kubernetes", "mount": mount, "role": "syncer", "jwtPath": str(path)}
    if method == "jwt":
        enable_jwt_auth(bao, env, mount, discovery=False, audience="vault", namespace=namespace,
                        service_account="syncer", policies=[policy], **token)
        path = folder / "vault-token"
        path.write_text(projected_token(core, namespace, "syncer", "vault", seconds=3600))
        return {"method": "jwt", "mount": mount, "role": "syncer", "jwtPath": str(path)}
    pki.make_client_ca(folder, "client-ca")
    cert, key = pki.issue_client_cert(folder, "client-ca", CERT_NAME)
    enable_cert_auth(bao, mount, ca_cert=folder / "client-ca.crt", policies=[policy], **token)
    return {"method": "cert", "mount": mount, "clientCert": str(cert), "clientKey": str(key)}


def measure(env: servers.Env, vaults: dict[str, vaultserver.DevVault], *,
            core: k8s.CoreV1Api, namespace: str, folder: Path, seconds: float
            ) -> list[LoginRate]:
    core.create_namespaced_service_account(
        namespace, k8s.V1ServiceAccount(metadata=k8s.V1ObjectMeta(name="syncer")))
    daemons: dict[tuple[str, str], Syncer] = {}
    try:
        for kind, server in vaults.items():
            bao = hvac.Client(url=server.addr, token=server.token)
            bao.secrets.kv.v2.create_or_update_secret("bench/hf", secret={
                "token": "hf_bench_only_not_a_real_token"})
            bao.sys.create_or_update_policy("bench-login",
                                            'path "secret/data/bench/*" '
                                            '{ capabilities = ["read"] }')
            for method in METHODS:
                where = folder / f"{kind}-{method}"
                where.mkdir(parents=True)
                auth = _auth(method, bao, env=env, core=core, namespace=namespace,
                             folder=where, policy="bench-login")
                entry = {"name": "hf", "type": "hf", "vault": {"path": "bench/hf",
                                                              "keys": {"token": "token"}},
                         "targets": [{"namespaces": [namespace],
                                      "secret": f"hf-{kind}-{method}"}]}
                config = write_config(where / "c.json", server, [entry], interval="1s",
                                      instance=f"login-{kind}-{method}", auth=auth)
                daemons[(kind, method)] = Syncer(env, config, where / "daemon")
        time.sleep(15)  # warm-up: the first login and a few cycles behind us

        def counts() -> dict[tuple[str, str], tuple[float, float, float]]:
            return {key: (d.metric(REQUESTS, 'operation="login",status="ok"'),
                          d.metric(REQUESTS, 'operation="renew",status="ok"'),
                          d.metric("kserve_vault_sync_sync_runs_total", 'result="success"'))
                    for key, d in daemons.items()}
        start, started = counts(), time.monotonic()
        time.sleep(seconds)
        end, elapsed = counts(), time.monotonic() - started
    finally:
        for daemon in daemons.values():
            daemon.stop()
    return [LoginRate(kind, method, elapsed, *(e - s for e, s in
                                               zip(end[(kind, method)], start[(kind, method)],
                                                   strict=True)))
            for kind, method in sorted(daemons)]
