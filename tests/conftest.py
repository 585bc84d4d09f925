"""Suite-wide fixtures: the real dev environment, a fresh namespace per test,
and a leak guard that fails any test whose output shows a seeded secret.

In CI (CI=true) a server that cannot start fails the run; locally the
real-server tests are skipped with the reason printed.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import hvac
import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from devenv import servers
from tests import seeds

IN_CI = os.environ.get("CI", "").lower() == "true"


# -- leak guard -------------------------------------------------------------


def _leaks(text: str) -> list[str]:
    return [label for label, needle in seeds.needles() if needle in text]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    texts = [content for _, content in report.sections]
    if report.longrepr is not None:
        texts.append(str(report.longrepr))
    found = sorted({label for text in texts for label in _leaks(text)})
    if found and report.when in ("call", "teardown"):
        report.outcome = "failed"
        report.longrepr = (f"LEAK: seeded secret value(s) {found} appeared in this test's "
                           "captured output, logs or exception text")


# -- real servers -----------------------------------------------------------


def _session_env(tmp_path_factory: pytest.TempPathFactory, name: str, *, kserve: bool
                 ) -> Iterator[servers.Env]:
    folder = tmp_path_factory.mktemp(name)
    try:
        env = servers.up(folder, kserve=kserve)
    except Exception as exc:  # noqa: BLE001 - any start-up failure is reported the same way
        if IN_CI:
            pytest.fail(f"{name} did not start (CI=true, so this fails): {exc}")
        pytest.skip(f"{name} unavailable locally: {exc}")
    try:
        yield env
    finally:
        servers.down(folder, quiet=True)
        # Server logs must not hold any seeded value either.
        for log in (folder / "logs").glob("*.log"):
            leaked = _leaks(log.read_text(errors="replace"))
            assert not leaked, f"seeded secret value(s) {leaked} in {log}"


@pytest.fixture(scope="session")
def devenv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Env]:
    yield from _session_env(tmp_path_factory, "devenv", kserve=False)


@pytest.fixture(scope="session")
def kserve_devenv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Env]:
    """A second dev environment that also runs kube-controller-manager and KServe's
    manager and webhooks (devenv/kserve_servers.py); only tests that ask for it pay."""
    yield from _session_env(tmp_path_factory, "kserve-devenv", kserve=True)


@pytest.fixture(scope="session")
def kube_api(devenv: servers.Env) -> k8s.ApiClient:
    configuration = k8s.Configuration()
    k8s_config.load_kube_config(config_file=devenv.kubeconfig,
                                client_configuration=configuration)
    return k8s.ApiClient(configuration)


@pytest.fixture(scope="session")
def core(kube_api: k8s.ApiClient) -> k8s.CoreV1Api:
    return k8s.CoreV1Api(kube_api)


@pytest.fixture(scope="session")
def bao(devenv: servers.Env) -> hvac.Client:
    return hvac.Client(url=devenv.vault_addr, token=devenv.vault_token)


@pytest.fixture
def namespace(core: k8s.CoreV1Api, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace for one test (no namespace controller runs, so it is left
    Terminating after the test; names never repeat)."""
    base = request.node.name.lower().replace("_", "-")
    name = "".join(c for c in base if c.isalnum() or c == "-")[:40].strip("-")
    name = f"{name}-{secrets.token_hex(3)}"
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name)


@pytest.fixture
def vault_prefix(request: pytest.FixtureRequest) -> str:
    """A Vault path prefix no other test uses."""
    return f"t/{request.node.name[:40]}-{secrets.token_hex(3)}"


# -- helpers ----------------------------------------------------------------


def secret_data(core: k8s.CoreV1Api, namespace: str, name: str) -> dict[str, str]:
    """A Secret's data, decoded (for assertions; never printed)."""
    secret = core.read_namespaced_secret(name, namespace)
    return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}


def sa_token(core: k8s.CoreV1Api, namespace: str, name: str) -> str:
    """A token for a ServiceAccount, issued by the API server (TokenRequest)."""
    request = k8s.AuthenticationV1TokenRequest(spec=k8s.V1TokenRequestSpec(audiences=[]))
    token: str = core.create_namespaced_service_account_token(name, namespace, request
                                                              ).status.token
    return token


def sa_kubeconfig(core: k8s.CoreV1Api, devenv: servers.Env, namespace: str, name: str,
                  path: Path) -> Path:
    """A kubeconfig that acts as that ServiceAccount (for RBAC tests)."""
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": devenv.apiserver_url,
                                               "certificate-authority": devenv.ca_cert}}],
        "users": [{"name": "u", "user": {"token": sa_token(core, namespace, name)}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}))
    return path


def enable_kubernetes_auth(bao: hvac.Client, devenv: servers.Env, mount: str, *,
                           namespace: str, service_account: str, policies: list[str]) -> None:
    """OpenBao's kubernetes auth at ``mount``, reviewing tokens with this API server."""
    bao.sys.enable_auth_method("kubernetes", path=mount)
    bao.write(f"auth/{mount}/config", kubernetes_host=devenv.apiserver_url,
              kubernetes_ca_cert=Path(devenv.ca_cert).read_text(),
              token_reviewer_jwt=devenv.admin_token, disable_local_ca_jwt=True)
    bao.write(f"auth/{mount}/role/syncer", bound_service_account_names=[service_account],
              bound_service_account_namespaces=[namespace], token_policies=policies,
              token_ttl="10m")


class AuditLog:
    """Counts requests from the API server's own audit log."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.offset = 0

    def mark(self) -> None:
        self._settle()
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def _settle(self) -> None:
        # The log backend writes as requests complete; wait until it stops growing.
        last = -1
        for _ in range(20):
            size = self.path.stat().st_size if self.path.exists() else 0
            if size == last:
                return
            last = size
            time.sleep(0.1)

    def events(self, *, namespaces: set[str] | None = None) -> list[dict[str, Any]]:
        self._settle()
        with self.path.open() as fh:
            fh.seek(self.offset)
            lines = fh.read().splitlines()
        out = []
        for line in lines:
            event = json.loads(line)
            ref = event.get("objectRef") or {}
            if namespaces is not None and ref.get("namespace") not in namespaces:
                continue
            out.append(event)
        return out

    def writes(self, *, namespaces: set[str] | None = None) -> list[dict[str, Any]]:
        return [e for e in self.events(namespaces=namespaces)
                if e["verb"] in {"create", "update", "patch", "delete"}]


@pytest.fixture
def audit(devenv: servers.Env) -> AuditLog:
    log = AuditLog(devenv.audit_log)
    log.mark()
    return log


WriteConfig = Callable[..., Path]


@pytest.fixture
def write_config(tmp_path: Path, devenv: servers.Env) -> WriteConfig:
    """Write a config file for the dev environment; ``credentials`` as Python data."""
    def write(credentials: list[dict[str, Any]], **extra: Any) -> Path:
        vault = {"address": devenv.vault_addr,
                 "auth": {"method": "token", "token": devenv.vault_token}}
        vault.update(extra.pop("vault", {}))
        doc = {"vault": vault, "credentials": credentials, **extra}
        path = tmp_path / f"config-{secrets.token_hex(2)}.yaml"
        path.write_text(json.dumps(doc, indent=2))
        return path
    return write


@pytest.fixture
def cli(devenv: servers.Env, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[..., tuple[int, str]]]:
    """Run the CLI in-process against the dev environment; returns (exit code, output).

    Each call's output is checked for seeded secrets at once, and all of it is
    written out again at teardown so it stays in the report.
    """
    from syncer import cli as syncer_cli

    for name in ("VAULT_ADDR", "VAULT_TOKEN", "VAULT_NAMESPACE", "VAULT_CACERT"):
        monkeypatch.delenv(name, raising=False)
    transcript: list[str] = []

    def run(command: str, *args: str, echo: bool = True) -> tuple[int, str]:
        extra = [] if command == "validate" else ["--kubeconfig", devenv.kubeconfig]
        code = syncer_cli.main([command, *args, *extra])
        captured = capsys.readouterr()
        text = captured.out + captured.err
        if echo:  # only `render --reveal` tests pass echo=False
            leaked = _leaks(text)
            assert not leaked, f"LEAK: seeded secret value(s) {leaked} in CLI output"
            transcript.append(f"$ kserve-vault-sync {command} {' '.join(args)}\n{text}")
        return code, text
    yield run
    sys.stdout.write("\n".join(transcript))
