"""Fixtures for the integration tests."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devenv import servers, tools
from tests.integration.cluster_tools import KUBECTL, run
from tests.integration.daemon_helpers import Daemon


@pytest.fixture
def daemons(tmp_path: Path, devenv: servers.Env) -> Iterator[Callable[..., Daemon]]:
    started: list[Daemon] = []

    def start(config: Path, *extra: str, **options: Any) -> Daemon:
        d = Daemon(config, devenv, tmp_path / f"daemon-{len(started)}.log", *extra, **options)
        started.append(d)
        return d
    yield start
    for d in started:
        d.stop(signal.SIGKILL, timeout=10)


@pytest.fixture(scope="module")
def crds(devenv: servers.Env) -> Iterator[None]:
    """Install the prometheus-operator CRDs so their kinds validate against real schemas."""
    for path in tools.prometheus_operator_crds().values():
        run(KUBECTL, "--kubeconfig", devenv.kubeconfig, "apply", "--server-side", "-f", path)
    run(KUBECTL, "--kubeconfig", devenv.kubeconfig, "wait", "--for=condition=Established",
        "crd/servicemonitors.monitoring.coreos.com", "crd/prometheusrules.monitoring.coreos.com",
        "--timeout=60s")
    yield
