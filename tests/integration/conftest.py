"""Fixtures for the integration tests."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devenv import servers
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
