"""The syncer logging in with jwt (a projected ServiceAccount token for Vault's
audience) and cert (a TLS client certificate), on both servers, through the
real CLI and daemon: a good credential syncs; a wrong audience or certificate
is refused at once (400: not retried) and reported with the server's reason;
the daemon logs in once per token lifetime, and reads the files again at each
login (a replaced file is what the next login presents)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hvac
import pytest
from kubernetes import client as k8s

from devenv import pki, servers, vaultserver
from tests import seeds
from tests.helpers import WriteConfig, secret_data
from tests.integration.daemon_helpers import Daemon, metric, wait_for
from tests.kubeobjects import meta
from tests.vaultsetup import (
    BOTH_SERVERS,
    CERT_NAME,
    WRONG_CERT,
    enable_cert_auth,
    enable_jwt_auth,
    projected_token,
)

pytestmark = [pytest.mark.integration, BOTH_SERVERS]
AUDIENCE = "vault.kserve-vault-sync.test"
Cli = Callable[..., tuple[int, str]]
REQUESTS = "kserve_vault_sync_vault_requests_total"


@dataclass
class Login:
    """A method set up in Vault, the syncer's vault settings for it, and how to swap
    its credential file(s) for a good or a wrong one."""

    vault: dict[str, Any]
    files: dict[str, Path]  # what the config points at
    good: dict[str, Path]
    wrong: dict[str, Path]
    refusal: str  # the server's reason for the wrong one

    def use(self, which: dict[str, Path]) -> None:
        for name, path in self.files.items():
            shutil.copyfile(which[name], path)


def set_up(method: str, *, bao: hvac.Client, server: vaultserver.DevVault, devenv: servers.Env,
           core: k8s.CoreV1Api, namespace: str, prefix: str, tmp_path: Path, **token: str
           ) -> Login:
    mount = f"{method}-{namespace[-6:]}"
    bao.sys.create_or_update_policy(mount, f'path "secret/data/{prefix}/*" '
                                           '{ capabilities = ["read"] }')
    if method == "jwt":
        core.create_namespaced_service_account(
            namespace, k8s.V1ServiceAccount(metadata=k8s.V1ObjectMeta(name="syncer")))
        enable_jwt_auth(bao, devenv, mount, discovery=False, audience=AUDIENCE,
                        namespace=namespace, service_account="syncer", policies=[mount],
                        **token)
        good, wrong = tmp_path / "good.jwt", tmp_path / "wrong.jwt"
        good.write_text(projected_token(core, namespace, "syncer", AUDIENCE))
        wrong.write_text(projected_token(core, namespace, "syncer", "some-other-audience"))
        files = {"jwt": tmp_path / "token"}
        login = Login(vault={"auth": {"method": "jwt", "mount": mount, "role": "syncer",
                                      "jwtPath": str(files["jwt"])}},
                      files=files, good={"jwt": good}, wrong={"jwt": wrong},
                      refusal="invalid audience")
    else:
        pki.make_client_ca(tmp_path, "client-ca")
        cert, key = pki.issue_client_cert(tmp_path, "client-ca", CERT_NAME)
        pki.make_client_ca(tmp_path, "other-ca")
        wrong_cert, wrong_key = pki.issue_client_cert(tmp_path, "other-ca", "intruder")
        enable_cert_auth(bao, mount, ca_cert=tmp_path / "client-ca.crt", policies=[mount],
                         **token)
        files = {"cert": tmp_path / "tls.crt", "key": tmp_path / "tls.key"}
        login = Login(vault={"address": server.tls_addr, "caCert": server.ca_cert,
                             "auth": {"method": "cert", "mount": mount,
                                      "clientCert": str(files["cert"]),
                                      "clientKey": str(files["key"])}},
                      files=files, good={"cert": cert, "key": key},
                      wrong={"cert": wrong_cert, "key": wrong_key},
                      refusal=WRONG_CERT[server.kind])
    login.use(login.good)
    return login


def hf_entry(bao: hvac.Client, prefix: str, namespace: str, label: str) -> dict[str, Any]:
    bao.secrets.kv.v2.create_or_update_secret(f"{prefix}/hf", secret={
        "token": seeds.fake(label, "hf_")})
    return {"name": "hf", "type": "hf", "vault": {"path": f"{prefix}/hf",
                                                  "keys": {"token": "token"}},
            "targets": [{"namespaces": [namespace], "secret": "hf-secret"}]}


@pytest.mark.parametrize("method", ["jwt", "cert"])
def test_login_refused_is_reported_and_not_retried(
        method: str, bao: hvac.Client, vault_server: vaultserver.DevVault,
        devenv: servers.Env, core: k8s.CoreV1Api, cli: Cli, write_config: WriteConfig,
        namespace: str, vault_prefix: str, tmp_path: Path) -> None:
    login = set_up(method, bao=bao, server=vault_server, devenv=devenv, core=core,
                   namespace=namespace, prefix=vault_prefix, tmp_path=tmp_path)
    config = str(write_config([hf_entry(bao, vault_prefix, namespace, f"{method}-hf")],
                              vault=login.vault))
    code, out = cli("once", "-c", config)
    assert code == 0, out
    assert "hf-secret" in {meta(s).name for s in core.list_namespaced_secret(namespace).items}

    login.use(login.wrong)
    code, out = cli("once", "-c", config)
    mount = login.vault["auth"]["mount"]
    assert code == 1, out
    assert f"login ({method} at auth/{mount}): refused by Vault (HTTP 400: " in out, out
    assert login.refusal in out and "retrying" not in out, out

    for path in login.files.values():
        path.unlink()
    code, out = cli("once", "-c", config)
    field = "jwtPath" if method == "jwt" else "clientCert"
    assert code == 1 and f"vault.auth.{field}: cannot read" in out, out


@pytest.mark.parametrize("method", ["jwt", "cert"])
def test_daemon_logs_in_once_per_token_lifetime_and_rereads_its_files(
        method: str, bao: hvac.Client, vault_server: vaultserver.DevVault,
        devenv: servers.Env, core: k8s.CoreV1Api, daemons: Callable[..., Daemon],
        write_config: WriteConfig, namespace: str, vault_prefix: str, tmp_path: Path) -> None:
    # Tokens live 6 s, renewable up to 12 s: a new login about every 12 s, not per
    # cycle. (With 3 s a cycle delayed by a busy machine met an expired token, so
    # no renewal ever succeeded.)
    login = set_up(method, bao=bao, server=vault_server, devenv=devenv, core=core,
                   namespace=namespace, prefix=vault_prefix, tmp_path=tmp_path,
                   token_ttl="6s", token_max_ttl="12s")
    entry = hf_entry(bao, vault_prefix, namespace, f"{method}-daemon-hf")
    daemon = daemons(write_config([entry], vault=login.vault, sync={"interval": "1s"}))

    def count(labels: str) -> float:
        return metric(daemon.scrape(), REQUESTS, labels) or 0

    wait_for(lambda: count('operation="login",status="ok"') >= 2, 60, "a second login")
    logins = count('operation="login",status="ok"')
    cycles = metric(daemon.scrape(), "kserve_vault_sync_sync_runs_total", 'result="success"')
    assert cycles is not None and cycles >= 2 * logins, (cycles, logins)
    assert count('operation="renew",status="ok"') >= 1

    # The next login reads the file again: a wrong credential there is refused...
    login.use(login.wrong)
    wait_for(lambda: count('operation="login",status="error"') >= 1, 30, "a refused login")
    assert "refused by Vault (HTTP 400" in daemon.output()
    # ...and the right one back heals it without a restart: a new value arrives.
    login.use(login.good)
    token = seeds.fake(f"{method}-daemon-hf-2", "hf_")
    bao.secrets.kv.v2.create_or_update_secret(f"{vault_prefix}/hf", secret={"token": token})
    wait_for(lambda: secret_data(core, namespace, "hf-secret").get("HF_TOKEN") == token, 30,
             "the new value after the credential file was fixed")
