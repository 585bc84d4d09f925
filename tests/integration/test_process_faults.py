"""Process and API-server faults against real servers: the API server stopped and
restarted under a running daemon, the syncer SIGKILLed mid-cycle, and two
syncers racing without a Lease. Every managed credential ends either at its
last good value or at the new one - never empty or partial."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hvac
import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from devenv import servers
from tests import seeds
from tests.entries import put_s3, s3_entry
from tests.helpers import AuditLog, WriteConfig, secret_data
from tests.integration.daemon_helpers import Daemon, metric, wait_for
from tests.kubeobjects import data_of, name_of

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent


@pytest.fixture
def own_env(tmp_path: Path) -> Iterator[servers.Env]:
    """A dev environment of this test's own: its API server is about to be stopped."""
    env = servers.up(tmp_path / "env")
    try:
        yield env
    finally:
        servers.down(tmp_path / "env", quiet=True)


def _core(env: servers.Env) -> k8s.CoreV1Api:
    configuration = k8s.Configuration()
    # kubernetes.config has no annotations (the client models do)
    k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=env.kubeconfig, client_configuration=configuration)
    return k8s.CoreV1Api(k8s.ApiClient(configuration))


def test_api_server_restart_under_a_running_daemon(own_env: servers.Env, tmp_path: Path
                                                   ) -> None:
    core = _core(own_env)
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name="team-a")))
    bao = hvac.Client(url=own_env.vault_addr, token=own_env.vault_token)
    _, secret = put_s3(bao, "kserve/s3")
    config = tmp_path / "c.yaml"
    config.write_text(json.dumps({
        "vault": {"address": own_env.vault_addr,
                  "auth": {"method": "token", "token": own_env.vault_token}},
        "sync": {"interval": "1s", "jitter": "0%"},
        "credentials": [s3_entry("s3", "kserve/s3", ["team-a"])]}))
    daemon = Daemon(config, own_env, tmp_path / "daemon.log")
    try:
        wait_for(lambda: core.list_namespaced_secret("team-a").items, what="first sync")
        servers.stop_server(Path(own_env.dir), "kube-apiserver")
        wait_for(lambda: metric(daemon.scrape(), "kserve_vault_sync_sync_runs_total",
                                'result="error"'), timeout=60, what="cycles failing")
        _, rotated = put_s3(bao, "kserve/s3")  # rotated while the API server is down
        servers.start_server(Path(own_env.dir), "kube-apiserver")
        core = _core(own_env)
        wait_for(lambda: secret_data(core, "team-a", "s3-secret")["AWS_SECRET_ACCESS_KEY"]
                 == rotated, timeout=60, what="recovery after the API server is back")
        text = daemon.scrape()
        assert metric(text, "kserve_vault_sync_watch_restarts_total",
                      'kind="Secret",reason="error"')
        # The watch is back too: a tamper is repaired without waiting for a cycle.
        wait_for(lambda: daemon.proc.poll() is None, what="daemon alive")
        assert secret not in daemon.output()
    finally:
        assert daemon.stop() == 0


def _many_targets(namespaces: list[str], prefix: str) -> list[dict[str, Any]]:
    return [s3_entry(f"s3-{i}", f"{prefix}/s3-{i % 5}", namespaces, secret=f"s3-{i}",
                     serviceAccount=f"sa-{i}", storageConfig={"key": f"m{i}"})
            for i in range(20)]


def _assert_complete(core: k8s.CoreV1Api, namespaces: list[str], values: dict[int, str]
                     ) -> None:
    for ns in namespaces:
        storage = secret_data(core, ns, "storage-config")
        for i in range(20):
            assert secret_data(core, ns, f"s3-{i}")["AWS_SECRET_ACCESS_KEY"] == values[i % 5]
            assert json.loads(storage[f"m{i}"])["secret_access_key"] == values[i % 5]


def test_sigkill_mid_cycle_then_restart_converges(
        core: k8s.CoreV1Api, bao: hvac.Client, devenv: servers.Env, vault_prefix: str,
        namespace: str, tmp_path: Path, audit: AuditLog, write_config: WriteConfig) -> None:
    spaces = [namespace] + [f"{namespace}-{i}" for i in range(1, 6)]
    for ns in spaces[1:]:
        core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=ns)))
    values = {i: put_s3(bao, f"{vault_prefix}/s3-{i}")[1] for i in range(5)}
    config = write_config(_many_targets(spaces, vault_prefix), sync={"concurrency": 1})
    args = [str(BIN / "kserve-vault-sync"), "once", "-c", str(config), "--kubeconfig",
            devenv.kubeconfig, "--log-level", "error"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    log = Path(devenv.audit_log)
    start = log.stat().st_size
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # a raw poll: kill as soon as writes begin
        with log.open("rb") as fh:
            fh.seek(start)
            if fh.read().count(b'"verb":"create"') >= 10:
                break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    written = len(audit.writes(namespaces=set(spaces)))
    assert written < 20 * 2 * len(spaces), "killed too late to prove anything"
    # Whatever exists now is complete: never an empty or partial credential.
    for secret in core.list_namespaced_secret(namespace).items:
        if name_of(secret).startswith("s3-"):
            assert len(data_of(secret)) == 2
    result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    _assert_complete(core, spaces, values)


def test_two_syncers_racing_without_a_lease(
        core: k8s.CoreV1Api, bao: hvac.Client, devenv: servers.Env, vault_prefix: str,
        namespace: str, tmp_path: Path, write_config: WriteConfig) -> None:
    spaces = [namespace, f"{namespace}-b"]
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=spaces[1])))
    values = {i: put_s3(bao, f"{vault_prefix}/s3-{i}")[1] for i in range(5)}
    config = write_config(_many_targets(spaces, vault_prefix))
    args = [str(BIN / "kserve-vault-sync"), "once", "-c", str(config), "--kubeconfig",
            devenv.kubeconfig]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
    racers = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                               text=True) for _ in range(2)]
    outputs = [r.communicate(timeout=300)[0] for r in racers]
    for racer, out in zip(racers, outputs, strict=True):
        sys.stdout.write(out)
        assert racer.returncode == 0, out  # a create that loses the race re-reads, not fails
    _assert_complete(core, spaces, values)
    assert not any(seeds.AWS_SECRET_ACCESS_KEY in o for o in outputs)
