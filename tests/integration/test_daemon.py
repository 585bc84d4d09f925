"""The daemon as a real process against the real servers: scrapes, probes, live
reload (with the ConfigMap symlink swap), SIGTERM, and Lease failover."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from pathlib import Path

import hvac
import pytest
from kubernetes import client as k8s

from devenv import servers
from tests import seeds
from tests.entries import put_s3, s3_entry
from tests.helpers import WriteConfig, secret_data
from tests.integration.daemon_helpers import Daemon, http_get, metric, series, wait_for
from tests.kubeobjects import meta

pytestmark = pytest.mark.integration
def test_daemon_syncs_scrapes_probes_reloads_and_stops(
        daemons: Callable[..., Daemon], bao: hvac.Client, core: k8s.CoreV1Api,
        vault_prefix: str, namespace: str, tmp_path: Path, devenv: servers.Env) -> None:
    _, secret = put_s3(bao, f"{vault_prefix}/s3")
    auth = {"method": "token", "token": devenv.vault_token}
    base = {"vault": {"address": devenv.vault_addr, "auth": auth},
            "sync": {"interval": "1s", "jitter": "0%"},
            "credentials": [s3_entry("s3", f"{vault_prefix}/s3", [namespace])]}
    # Mounted the way a ConfigMap volume is: config.yaml -> ..data/config.yaml.
    mount = tmp_path / "mount"
    (mount / "v1").mkdir(parents=True)
    (mount / "v1" / "config.yaml").write_text(json.dumps(base))
    (mount / "..data").symlink_to("v1")
    (mount / "config.yaml").symlink_to("..data/config.yaml")
    d = daemons(mount / "config.yaml")
    wait_for(d.ready, what="/readyz")
    assert http_get(d.url + "/healthz")[0] == 200
    wait_for(lambda: secret_data(core, namespace, "s3-secret").get(
        "AWS_SECRET_ACCESS_KEY") == secret, what="first sync")
    text = wait_for(lambda: (t := d.scrape()) and metric(
        t, "kserve_vault_sync_sync_runs_total", 'result="success"') and t, what="a cycle")
    assert metric(text, "kserve_vault_sync_object_writes_total",
                  'action="create",kind="Secret"') == 1
    assert series(text, "kserve_vault_sync_vault_requests_total",
                  'operation="read",status="ok"') >= 1
    assert series(text, "kserve_vault_sync_last_success_timestamp_seconds") > 0
    assert metric(text, "kserve_vault_sync_vault_token_ttl_seconds") == -1  # root: no expiry
    assert metric(text, "kserve_vault_sync_leader") == 1
    assert metric(text, "kserve_vault_sync_conflicts") == 0
    assert f'secret_namespace="{namespace}"' in text  # secret_last_sync_timestamp_seconds
    assert 'kserve_vault_sync_build_info{version=' in text
    assert 'process_resident_memory_bytes' in text
    assert secret not in text

    # Rotation reaches the cluster on the next cycle.
    _, rotated = put_s3(bao, f"{vault_prefix}/s3")
    wait_for(lambda: secret_data(core, namespace, "s3-secret")["AWS_SECRET_ACCESS_KEY"]
             == rotated, what="rotation")

    # An invalid new config (swapped in like kubelet does) is rejected and the old kept.
    (mount / "v2").mkdir()
    (mount / "v2" / "config.yaml").write_text("credentials: [{name: Bad Name}]\n")
    (mount / "..data_tmp").symlink_to("v2")
    (mount / "..data_tmp").replace(mount / "..data")
    wait_for(lambda: metric(d.scrape(), "kserve_vault_sync_config_reload_failures_total") == 1,
             what="reload failure metric")
    _, again = put_s3(bao, f"{vault_prefix}/s3")
    wait_for(lambda: secret_data(core, namespace, "s3-secret")["AWS_SECRET_ACCESS_KEY"]
             == again, what="sync continuing on the old config")

    # A valid new config takes effect: a second namespace appears.
    other = f"{namespace}-2"
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=other)))
    new = dict(base, credentials=[s3_entry("s3", f"{vault_prefix}/s3", [namespace, other])])
    (mount / "v3").mkdir()
    (mount / "v3" / "config.yaml").write_text(json.dumps(new))
    (mount / "..data_tmp").symlink_to("v3")
    (mount / "..data_tmp").replace(mount / "..data")
    wait_for(lambda: core.list_namespaced_secret(other).items, what="reloaded config")

    started = time.monotonic()
    assert d.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 15
    out = d.output()
    assert '"event": "config_rejected"' in out and '"event": "stopped"' in out


def test_vault_outage_alerts_and_recovers(
        daemons: Callable[..., Daemon], bao: hvac.Client, core: k8s.CoreV1Api,
        vault_prefix: str, namespace: str, tmp_path: Path, devenv: servers.Env) -> None:
    """The token is revoked mid-run (403): the entry fails, values stay, the metric
    says partial; a new token in the file (re-read on 403) heals it by itself."""
    put_s3(bao, f"{vault_prefix}/s3")
    token = bao.auth.token.create(policies=["root"], ttl="1h")["auth"]["client_token"]
    seeds.register("daemon-token", token)
    token_file = tmp_path / "token"
    token_file.write_text(token)
    config = tmp_path / "c.yaml"
    config.write_text(json.dumps({
        "vault": {"address": devenv.vault_addr,
                  "auth": {"method": "token", "tokenFile": str(token_file)}},
        "sync": {"interval": "1s", "jitter": "0%"},
        "credentials": [s3_entry("s3", f"{vault_prefix}/s3", [namespace])]}))
    d = daemons(config)
    wait_for(lambda: core.list_namespaced_secret(namespace).items, what="first sync")
    before = meta(core.read_namespaced_secret("s3-secret", namespace)).resource_version
    bao.auth.token.revoke(token)
    wait_for(lambda: metric(d.scrape(), "kserve_vault_sync_sync_runs_total",
                            'result="partial"'), what="partial cycles")
    assert metric(d.scrape(), "kserve_vault_sync_failed_entries") == 1
    assert meta(core.read_namespaced_secret("s3-secret", namespace)).resource_version \
        == before
    fresh = bao.auth.token.create(policies=["root"], ttl="1h")["auth"]["client_token"]
    seeds.register("daemon-token-2", fresh)
    token_file.write_text(fresh)
    _, secret = put_s3(bao, f"{vault_prefix}/s3")
    wait_for(lambda: secret_data(core, namespace, "s3-secret")["AWS_SECRET_ACCESS_KEY"]
             == secret, what="recovery with the new token")
    wait_for(lambda: metric(d.scrape(), "kserve_vault_sync_failed_entries") == 0,
             what="failed_entries back to 0")
    assert d.stop() == 0
    assert "permission denied" in d.output()


def test_leader_election_failover(daemons: Callable[..., Daemon], bao: hvac.Client,
                                  core: k8s.CoreV1Api, vault_prefix: str, namespace: str,
                                  tmp_path: Path, devenv: servers.Env,
                                  write_config: WriteConfig) -> None:
    """Two replicas: one leads; SIGKILL it and the standby takes over within one
    lease duration (measured)."""
    put_s3(bao, f"{vault_prefix}/s3")
    config = write_config([s3_entry("s3", f"{vault_prefix}/s3", [namespace])],
                          sync={"interval": "1s", "jitter": "0%"})
    lease = ["--leader-elect", "--lease-namespace", namespace, "--lease-duration", "4"]
    a = daemons(config, *lease)
    wait_for(lambda: metric(a.scrape(), "kserve_vault_sync_leader") == 1, what="a leads")
    b = daemons(config, *lease)
    wait_for(b.ready, what="standby ready")
    time.sleep(2)
    assert metric(b.scrape(), "kserve_vault_sync_leader") == 0
    assert metric(b.scrape(), "kserve_vault_sync_sync_runs_total", 'result="success"') is None
    a.stop(signal.SIGKILL)
    killed = time.monotonic()
    wait_for(lambda: metric(b.scrape(), "kserve_vault_sync_leader") == 1, timeout=20,
             what="standby takes over")
    takeover = time.monotonic() - killed
    print(f"failover after SIGKILL: {takeover:.1f}s (lease duration 4s)")
    assert takeover < 4 + 2 + 1  # lease duration + one retry period + scrape slack
    # A clean stop hands the Lease back at once.
    assert b.stop() == 0
    lease_obj = k8s.CoordinationV1Api(core.api_client).read_namespaced_lease(
        "kserve-vault-sync", namespace)
    assert lease_obj.spec is not None
    assert not lease_obj.spec.holder_identity
