"""Suite-wide fixtures: the real dev environment, a fresh namespace per test,
and a leak guard that fails any test whose output shows a seeded secret.

Vault-facing tests run against both servers: marked with
``tests.vaultsetup.BOTH_SERVERS`` they get ``vault_kind`` = openbao and
hashicorp, and ``bao``, ``vault_server`` and ``write_config`` follow it; the
other kind is started beside the dev environment on first use. Unmarked tests
use the dev environment's own server (``KVS_VAULT``, default openbao).

In CI (CI=true) a server that cannot start fails the run; locally the
real-server tests are skipped with the reason printed.
"""

from __future__ import annotations

import json
import secrets
import sys
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import hvac
import pluggy
import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from devenv import servers, vaultbuild, vaultserver
from tests import seeds
from tests.helpers import IN_CI, AuditLog, WriteConfig

# -- leak guard -------------------------------------------------------------


def _leaks(text: str, *, server_logs: bool = False) -> list[str]:
    """Labels of seeded values in ``text``; a value with line breaks is also found
    when the text reflowed them (compared with all whitespace removed)."""
    found, squeezed = [], ""
    for label, needle in seeds.needles(server_logs=server_logs):
        if needle in text:
            found.append(label)
        elif len(needle) >= 16 and any(c.isspace() for c in needle):
            squeezed = squeezed or "".join(text.split())
            if "".join(needle.split()) in squeezed:
                found.append(label)
    return found


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pluggy.Result[pytest.TestReport], None]:
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
        vaultbuild.ensure_aws_plugin()  # so OpenBao registers the AWS engine
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
            leaked = _leaks(log.read_text(errors="replace"), server_logs=True)
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
    # kubernetes.config has no annotations (the client models do)
    k8s_config.load_kube_config(config_file=devenv.kubeconfig,  # type: ignore[no-untyped-call]
                                client_configuration=configuration)
    return k8s.ApiClient(configuration)


@pytest.fixture(scope="session")
def core(kube_api: k8s.ApiClient) -> k8s.CoreV1Api:
    return k8s.CoreV1Api(kube_api)


@pytest.fixture
def vault_kind(request: pytest.FixtureRequest, devenv: servers.Env) -> str:
    """The Vault server this test talks to: its parameter, else the dev environment's."""
    return str(getattr(request, "param", devenv.vault))


@pytest.fixture
def vault_server(vault_kind: str, devenv: servers.Env) -> vaultserver.DevVault:
    try:
        return servers.add_vault(Path(devenv.dir), vault_kind)
    except Exception as exc:  # noqa: BLE001 - any start-up failure is reported the same way
        if IN_CI:
            pytest.fail(f"{vault_kind} did not start (CI=true, so this fails): {exc}")
        pytest.skip(f"{vault_kind} unavailable locally: {exc}")


@pytest.fixture
def bao(vault_server: vaultserver.DevVault) -> hvac.Client:
    """A root client of this test's Vault server (OpenBao unless parametrized)."""
    return hvac.Client(url=vault_server.addr, token=vault_server.token)


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


@pytest.fixture
def audit(devenv: servers.Env) -> AuditLog:
    log = AuditLog(devenv.audit_log)
    log.mark()
    return log


@pytest.fixture
def write_config(tmp_path: Path, vault_server: vaultserver.DevVault) -> WriteConfig:
    """Write a config file for this test's Vault server; ``credentials`` as Python data.

    Each test is its own installation (``sync.instance``), as two teams sharing a
    cluster would be: what one test wrote is never pruned or counted by another."""
    instance = f"t-{secrets.token_hex(4)}"

    def write(credentials: list[dict[str, Any]], **extra: Any) -> Path:
        vault = {"address": vault_server.addr,
                 "auth": {"method": "token", "token": vault_server.token}}
        vault.update(extra.pop("vault", {}))
        extra["sync"] = {"instance": instance, **extra.get("sync", {})}
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
        extra = ([] if command == "validate" or "--kubeconfig" in args
                 else ["--kubeconfig", devenv.kubeconfig])
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
