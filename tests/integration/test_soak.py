"""A bounded soak: a running daemon under random rotations, bad values, tampering
and deletions. At the end every managed credential holds the last good value,
nothing is empty or partial, nothing leaked, and memory did not run away.

Short in CI (KVS_SOAK_SECONDS, default 20); run longer by hand, e.g.
``KVS_SOAK_SECONDS=600 .venv/bin/python -m pytest tests/integration/test_soak.py -s``.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import hvac
import pytest
from kubernetes import client as k8s

from devenv import servers
from tests import seeds
from tests.entries import s3_entry
from tests.helpers import WriteConfig, secret_data
from tests.integration.daemon_helpers import Daemon, metric, wait_for

pytestmark = pytest.mark.integration
PATHS = 4
TARGETS = 8


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def test_soak(bao: hvac.Client, core: k8s.CoreV1Api, devenv: servers.Env, vault_prefix: str,
              namespace: str, tmp_path: Path, write_config: WriteConfig) -> None:
    seconds = float(os.environ.get("KVS_SOAK_SECONDS", "20"))
    rng = random.Random(int(os.environ.get("KVS_SOAK_SEED", "7")))  # noqa: S311 - not crypto
    good: dict[int, tuple[str, str]] = {}

    def rotate(i: int) -> None:
        value = (seeds.fake("soak-ak", "AKIA"), seeds.fake("soak-sk"))
        bao.secrets.kv.v2.create_or_update_secret(
            f"{vault_prefix}/p{i}", secret={"access_key": value[0], "secret_key": value[1]})
        good[i] = value

    for i in range(PATHS):
        rotate(i)
    credentials = [s3_entry(f"c{t}", f"{vault_prefix}/p{t % PATHS}", [namespace],
                            secret=f"s{t}", serviceAccount=f"sa{t}",
                            storageConfig={"key": f"k{t}"}) for t in range(TARGETS)]
    config = write_config(credentials, sync={"interval": "1s", "jitter": "20%"})
    daemon = Daemon(config, devenv, tmp_path / "daemon.log")
    counts: Counter[str] = Counter()
    try:
        wait_for(lambda: len(core.list_namespaced_secret(namespace).items) == TARGETS + 1,
                 what="first sync")
        rss_start = _rss_kib(daemon.proc.pid)

        def bad_value(i: int) -> None:  # held: the cluster keeps the last good value
            bao.secrets.kv.v2.create_or_update_secret(
                f"{vault_prefix}/p{i}", secret={"access_key": "AKIA", "secret_key": " "})

        def tamper(t: int) -> None:
            core.patch_namespaced_secret(f"s{t}", namespace,
                                         {"stringData": {"AWS_SECRET_ACCESS_KEY": "tampered"}})

        def delete(t: int) -> None:
            core.delete_namespaced_secret(f"s{t}", namespace)

        def strip(t: int) -> None:
            core.patch_namespaced_service_account(f"sa{t}", namespace, [
                {"op": "replace", "path": "/secrets", "value": []}])

        actions: dict[str, tuple[Callable[[int], None], int]] = {
            "rotation": (rotate, PATHS), "bad value": (bad_value, PATHS),
            "tamper": (tamper, TARGETS), "delete": (delete, TARGETS),
            "strip entry": (strip, TARGETS)}
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            name = rng.choice(list(actions))
            action, size = actions[name]
            try:
                action(rng.randrange(size))
                counts[name] += 1
            except k8s.ApiException as exc:
                if exc.status != 404:  # deleting what was just deleted: fine
                    raise
            time.sleep(rng.uniform(0.02, 0.3))
        for i in range(PATHS):  # end on good values everywhere
            rotate(i)
            counts["rotation"] += 1

        def converged() -> bool:
            try:
                storage = secret_data(core, namespace, "storage-config")
                for t in range(TARGETS):
                    want = good[t % PATHS]
                    data = secret_data(core, namespace, f"s{t}")
                    if data != {"AWS_ACCESS_KEY_ID": want[0], "AWS_SECRET_ACCESS_KEY": want[1]}:
                        return False
                    if json.loads(storage[f"k{t}"])["secret_access_key"] != want[1]:
                        return False
                    accounts = core.read_namespaced_service_account(f"sa{t}", namespace)
                    if f"s{t}" not in [s.name for s in accounts.secrets or []]:
                        return False
            except (k8s.ApiException, KeyError):
                return False
            return True

        wait_for(converged, timeout=30, what="convergence after the soak")
        text = daemon.scrape()
        cycles = metric(text, "kserve_vault_sync_sync_duration_seconds_count") or 0
        repairs = sum(metric(text, "kserve_vault_sync_drift_repairs_total", f'kind="{k}"') or 0
                      for k in ("Secret", "ServiceAccount"))
        writes = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                     if line.startswith("kserve_vault_sync_object_writes_total{"))
        rss_end = _rss_kib(daemon.proc.pid)
        print(f"soak {seconds:.0f}s: {cycles:.0f} cycles, faults {dict(counts)}, "
              f"{repairs:.0f} drift repairs, {writes:.0f} writes, values lost 0, leaks 0, "
              f"RSS {rss_start} -> {rss_end} KiB")
        assert cycles >= seconds / 2  # about one a second, plus the triggered ones
        assert rss_end - rss_start < 40 * 1024, "memory grew by more than 40 MiB"
    finally:
        assert daemon.stop() == 0
