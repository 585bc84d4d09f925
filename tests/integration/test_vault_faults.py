"""Vault faults on a dedicated real server of each kind, OpenBao and HashiCorp
Vault (so the shared ones stay healthy): TLS with a custom CA (and a wrong CA
failing closed), sealed then unsealed. Whatever Vault does, the cluster keeps
the last good values."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import hvac
import pytest
from kubernetes import client as k8s

from devenv import servers, vaultserver
from tests import processes, seeds
from tests.entries import s3_entry
from tests.helpers import WriteConfig, secret_data
from tests.kubeobjects import meta
from tests.vaultsetup import BOTH_SERVERS

pytestmark = [pytest.mark.integration, BOTH_SERVERS]
Cli = Callable[..., tuple[int, str]]


@dataclass
class Bao:
    addr: str
    token: str
    unseal_key: str
    ca: Path | None
    proc: subprocess.Popen[bytes]

    def client(self) -> hvac.Client:
        return hvac.Client(url=self.addr, token=self.token,
                           verify=str(self.ca) if self.ca else True)


@pytest.fixture
def own_bao(tmp_path: Path, request: pytest.FixtureRequest, vault_kind: str) -> Iterator[Bao]:
    """A dev server of this test's own (of its kind), over TLS when the test is named so.
    Both kinds print the unseal key and write vault-ca.pem for -dev-tls alike."""
    tls = "tls" in request.node.name
    port = servers.free_port()
    log = tmp_path / "bao.log"
    args = [str(vaultserver.binary(vault_kind)), "server", "-dev", "-dev-no-store-token",
            f"-dev-listen-address=127.0.0.1:{port}", "-dev-root-token-id=own-root"]
    if tls:
        args += ["-dev-tls", f"-dev-tls-cert-dir={tmp_path}"]
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    try:
        deadline = time.monotonic() + 30
        key = None
        while time.monotonic() < deadline and key is None:
            match = re.search(r"Unseal Key: (\S+)", log.read_text(errors="replace"))
            key = match.group(1) if match else None
            time.sleep(0.1)
        assert key, log.read_text()
        seeds.register("own-bao-unseal-key", key)
        bao = Bao(f"{'https' if tls else 'http'}://127.0.0.1:{port}", "own-root", key,
                  tmp_path / "vault-ca.pem" if tls else None, proc)
        for _ in range(100):
            try:
                if bao.client().sys.is_initialized():
                    break
            except Exception:  # noqa: BLE001 - not listening yet
                time.sleep(0.1)
        yield bao
    finally:
        processes.stop(proc)


def _config(write_config: WriteConfig, bao: Bao, namespace: str, **vault: object) -> str:
    return str(write_config([s3_entry("s3", "kserve/s3", [namespace])],
                            vault={"address": bao.addr,
                                   "auth": {"method": "token", "token": bao.token}, **vault}))


def test_tls_with_custom_ca_and_a_wrong_ca_fails_closed(
        own_bao: Bao, cli: Cli, write_config: WriteConfig, namespace: str,
        core: k8s.CoreV1Api, devenv: servers.Env) -> None:
    assert own_bao.ca is not None and own_bao.ca.exists()
    secret = seeds.fake("tls-sk")
    own_bao.client().secrets.kv.v2.create_or_update_secret(
        "kserve/s3", secret={"access_key": "AKIATLS", "secret_key": secret})
    code, out = cli("once", "-c", _config(write_config, own_bao, namespace,
                                          caCert=str(own_bao.ca)))
    assert code == 0, out
    assert secret_data(core, namespace, "s3-secret")["AWS_SECRET_ACCESS_KEY"] == secret
    before = meta(core.read_namespaced_secret("s3-secret", namespace)).resource_version
    # The kube-apiserver's CA did not sign OpenBao's certificate: refuse, clearly.
    code, out = cli("once", "-c", _config(write_config, own_bao, namespace,
                                          caCert=devenv.ca_cert))
    assert code == 1 and "TLS verification failed" in out
    # No CA at all (system roots) fails the same way.
    code, out = cli("once", "-c", _config(write_config, own_bao, namespace))
    assert code == 1 and "TLS verification failed" in out
    assert meta(core.read_namespaced_secret("s3-secret", namespace)).resource_version \
        == before


def test_sealed_vault_holds_values_and_unseal_recovers(
        own_bao: Bao, cli: Cli, write_config: WriteConfig, namespace: str,
        core: k8s.CoreV1Api) -> None:
    client = own_bao.client()
    secret = seeds.fake("seal-sk")
    client.secrets.kv.v2.create_or_update_secret(
        "kserve/s3", secret={"access_key": "AKIASEAL", "secret_key": secret})
    config = _config(write_config, own_bao, namespace)
    assert cli("once", "-c", config)[0] == 0
    before = meta(core.read_namespaced_secret("s3-secret", namespace)).resource_version
    client.sys.seal()
    code, out = cli("once", "-c", config)
    assert code == 1 and "sealed" in out.lower(), out
    assert meta(core.read_namespaced_secret("s3-secret", namespace)).resource_version \
        == before
    assert secret_data(core, namespace, "s3-secret")["AWS_SECRET_ACCESS_KEY"] == secret
    client.sys.submit_unseal_key(own_bao.unseal_key)
    rotated = seeds.fake("seal-sk2")
    for _ in range(50):  # the KV mount comes back a moment after unseal
        try:
            client.secrets.kv.v2.create_or_update_secret(
                "kserve/s3", secret={"access_key": "AKIASEAL", "secret_key": rotated})
            break
        except hvac.exceptions.VaultError:
            time.sleep(0.1)
    code, out = cli("once", "-c", config)
    assert code == 0, out
    assert secret_data(core, namespace, "s3-secret")["AWS_SECRET_ACCESS_KEY"] == rotated
