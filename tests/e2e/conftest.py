"""Fixtures for the KServe-in-the-loop tests (tests/e2e/test_kserve_loop_*.py).

They run on ``kserve_devenv`` (tests/conftest.py): the dev environment plus
kube-controller-manager and KServe's manager, started once per session and
only when one of these tests runs.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import hvac
import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from devenv import servers
from tests import seeds
from tests.e2e.consumer import MotoS3
from tests.e2e.kserve_cluster import KServeCluster, run_syncer

Sync = Callable[..., str]


@pytest.fixture(scope="session")
def cluster(kserve_devenv: servers.Env) -> KServeCluster:
    configuration = k8s.Configuration()
    # kubernetes.config has no annotations (the client models do)
    k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=kserve_devenv.kubeconfig, client_configuration=configuration)
    return KServeCluster(k8s.ApiClient(configuration), kserve_devenv)


@pytest.fixture(scope="session")
def kbao(kserve_devenv: servers.Env) -> hvac.Client:
    return hvac.Client(url=kserve_devenv.vault_addr, token=kserve_devenv.vault_token)


@pytest.fixture
def kns(cluster: KServeCluster) -> Iterator[str]:
    """A fresh namespace in the KServe dev environment (left Terminating afterwards:
    no namespace controller runs). Short: KServe builds `<isvc>-predictor-<namespace>`
    host names, which must fit in 63 characters."""
    name = f"kl-{secrets.token_hex(4)}"
    cluster.core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))
    yield name
    cluster.core.delete_namespace(name)


@pytest.fixture
def moto() -> Iterator[MotoS3]:
    """A moto S3 with IAM enforced, one per test (keys are rotated and revoked)."""
    with MotoS3() as server:
        seeds.register("moto-initial-secret", server.initial_key[1])
        yield server


@pytest.fixture
def sync(kserve_devenv: servers.Env, tmp_path: Path) -> Sync:
    """Write a mapping for the KServe dev environment and run ``kserve-vault-sync once``.

    Returns the CLI's output (checked for seeded secrets, and printed so it stays
    in the report); the exit code must be ``expect``.
    """
    instance = f"t-{secrets.token_hex(4)}"  # each test its own installation (sync.instance)

    def run(credentials: list[dict[str, Any]], *, expect: int = 0, **extra: Any) -> str:
        extra["sync"] = {"instance": instance, **extra.get("sync", {})}
        doc = {"vault": {"address": kserve_devenv.vault_addr,
                         "auth": {"method": "token", "token": kserve_devenv.vault_token}},
               "credentials": credentials, **extra}
        path = tmp_path / f"config-{secrets.token_hex(2)}.yaml"
        path.write_text(json.dumps(doc, indent=2))
        code, out = run_syncer(kserve_devenv, path)
        leaked = [label for label, needle in seeds.needles() if needle in out]
        assert not leaked, f"LEAK: seeded secret value(s) {leaked} in CLI output"
        print(f"$ kserve-vault-sync once -c {path.name}\n{out}")
        assert code == expect, out
        return out
    return run
