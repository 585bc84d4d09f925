"""Drift repair through a watch, and the rotation trigger, against the real servers.

The interval is 60 s, so anything repaired or applied within seconds here was
done by the watch or the trigger, not by the scheduler.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import hvac
import pytest
from kubernetes import client as k8s

from devenv import servers
from tests.entries import hf_entry, put_hf, put_s3, s3_entry
from tests.helpers import AuditLog, WriteConfig, secret_data
from tests.integration.daemon_helpers import Daemon, metric, series, wait_for
from tests.kubeobjects import listed

pytestmark = pytest.mark.integration


def post(url: str, token: str | None) -> int:
    req = urllib.request.Request(url, method="POST", data=b"")  # noqa: S310 - loopback
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 - loopback
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def timed(check: Callable[[], object], what: str) -> float:
    started = time.monotonic()
    wait_for(check, timeout=10, what=what)
    return time.monotonic() - started


def test_tampering_is_repaired_by_the_watch_and_triggers_work(
        daemons: Callable[..., Daemon], bao: hvac.Client, core: k8s.CoreV1Api,
        vault_prefix: str, namespace: str, tmp_path: Path, devenv: servers.Env,
        audit: AuditLog, write_config: WriteConfig) -> None:
    _, secret = put_s3(bao, f"{vault_prefix}/s3")
    put_hf(bao, f"{vault_prefix}/hf")
    config = write_config([s3_entry("s3", f"{vault_prefix}/s3", [namespace],
                                    storageConfig={"key": "m"}),
                           hf_entry("hf", f"{vault_prefix}/hf", [namespace])],
                          sync={"interval": "60s", "jitter": "0%"})
    token_file = tmp_path / "trigger-token"
    token_file.write_text("trigger-me-please")
    d = daemons(config, "--trigger-token-file", str(token_file))
    wait_for(lambda: metric(d.scrape(), "kserve_vault_sync_sync_runs_total",
                            'result="success"'), what="first cycle")
    time.sleep(1)  # let the watches connect
    repairs = []

    # 1. A hand edit of our value.
    core.patch_namespaced_secret("s3-secret", namespace,
                                 {"stringData": {"AWS_SECRET_ACCESS_KEY": "hand-edited"}})
    repairs.append(timed(lambda: secret_data(core, namespace, "s3-secret")[
        "AWS_SECRET_ACCESS_KEY"] == secret, "value repaired"))
    # 2. The Secret deleted.
    core.delete_namespaced_secret("s3-secret", namespace)
    repairs.append(timed(lambda: core.list_namespaced_secret(
        namespace, field_selector="metadata.name=s3-secret").items, "Secret recreated"))
    # 3. Our entry stripped from the ServiceAccount.
    core.patch_namespaced_service_account("s3-sa", namespace, [
        {"op": "replace", "path": "/secrets", "value": [{"name": "other"}]}])
    repairs.append(timed(lambda: "s3-secret" in [
        s.name for s in core.read_namespaced_service_account("s3-sa", namespace).secrets or []],
        "ServiceAccount entry restored"))
    # 4. Our key removed from storage-config.
    core.patch_namespaced_secret("storage-config", namespace, {"data": {"m": None}})
    repairs.append(timed(lambda: "m" in secret_data(core, namespace, "storage-config"),
                         "storage-config key restored"))
    print("repair seconds:", [round(r, 2) for r in repairs])
    assert max(repairs) < 2.0, repairs
    names = listed(core.read_namespaced_service_account("s3-sa", namespace))
    assert sorted(names) == ["other", "s3-secret"]

    # Our own writes do not loop: nothing is written while nobody touches anything.
    time.sleep(1)
    audit.mark()
    time.sleep(3)
    assert audit.writes(namespaces={namespace}) == []
    text = d.scrape()
    assert series(text, "kserve_vault_sync_drift_repairs_total", 'kind="Secret"') >= 3
    assert series(text, "kserve_vault_sync_drift_repairs_total", 'kind="ServiceAccount"') >= 1

    # The trigger: a rotation pipeline calls POST /trigger after writing to Vault.
    assert post(d.url + "/trigger", None) == 401
    assert post(d.url + "/trigger", "wrong") == 401
    assert post(d.url + "/trigger?only=nope", "trigger-me-please") == 400
    _, rotated = put_s3(bao, f"{vault_prefix}/s3")
    assert post(d.url + "/trigger?only=s3", "trigger-me-please") == 202
    applied = timed(lambda: secret_data(core, namespace, "s3-secret")[
        "AWS_SECRET_ACCESS_KEY"] == rotated, "triggered rotation")
    print(f"trigger -> applied: {applied:.2f}s")
    text = d.scrape()
    assert series(text, "kserve_vault_sync_rotations_applied_total", 'kind="Secret"') >= 1
    assert series(text, "kserve_vault_sync_rotation_latency_seconds_count") >= 1
    assert metric(text, "kserve_vault_sync_triggers_total") == 1
    assert d.stop() == 0
