"""The daemon under races and hostile input, as real subprocesses on the real
servers: a replica whose Lease is taken stops writing at once, a standby refuses
triggers it would not run, bad config reloads never wedge it, and its HTTP port
stays bounded under half-sent requests."""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hvac
import pytest
from kubernetes import client as k8s

from tests.entries import put_s3, s3_entry
from tests.helpers import AuditLog, WriteConfig, secret_data
from tests.integration.daemon_helpers import Daemon, http_get, http_post, metric, wait_for
from tests.kubeobjects import meta

pytestmark = pytest.mark.integration
Start = Callable[..., Daemon]


def gauge(daemon: Daemon, name: str, labels: str = "") -> float:
    return metric(daemon.scrape(), f"kserve_vault_sync_{name}", labels) or 0.0


def key_in(core: k8s.CoreV1Api, namespace: str) -> str | None:
    try:
        return secret_data(core, namespace, "s3-secret").get("AWS_ACCESS_KEY_ID")
    except k8s.ApiException:
        return None  # not written yet


def our_writes(audit: AuditLog, namespace: str) -> list[dict[str, Any]]:
    return [e for e in audit.writes(namespaces={namespace})
            if e.get("userAgent", "").startswith("kserve-vault-sync")
            and e["stage"] == "ResponseComplete"]


def test_a_replica_whose_lease_is_taken_stops_writing(
        core: k8s.CoreV1Api, kube_api: k8s.ApiClient, bao: hvac.Client, daemons: Start,
        write_config: WriteConfig, vault_prefix: str, namespace: str, audit: AuditLog) -> None:
    """Another holder takes the Lease: from then on the replica writes nothing - no
    cycle, no drift repair - until the Lease is free again."""
    key_id, _ = put_s3(bao, f"{vault_prefix}/s3")
    config = write_config([s3_entry("s3", f"{vault_prefix}/s3", [namespace])],
                          sync={"interval": "1s"})
    daemon = daemons(config, "--leader-elect", "--lease-namespace", namespace,
                     "--lease-duration", "4")
    wait_for(lambda: gauge(daemon, "leader") == 1 and key_in(core, namespace) == key_id,
             what="leadership and a first sync")
    leases = k8s.CoordinationV1Api(kube_api)
    lease = leases.read_namespaced_lease("kserve-vault-sync", namespace)
    assert lease.spec is not None
    lease.spec.holder_identity = "rival"
    lease.spec.renew_time = datetime.now(UTC)
    lease.spec.lease_duration_seconds = 60
    leases.replace_namespaced_lease("kserve-vault-sync", namespace, lease)
    wait_for(lambda: gauge(daemon, "leader") == 0, timeout=10, what="the replica to stand by")
    audit.mark()
    new_id, _ = put_s3(bao, f"{vault_prefix}/s3")  # a rotation ...
    core.patch_namespaced_secret("s3-secret", namespace, {"data": {  # ... and a tamper
        "AWS_SECRET_ACCESS_KEY": base64.b64encode(b"tampered").decode()}})
    time.sleep(4)  # four intervals
    assert our_writes(audit, namespace) == []
    assert secret_data(core, namespace, "s3-secret")["AWS_ACCESS_KEY_ID"] == key_id
    lease = leases.read_namespaced_lease("kserve-vault-sync", namespace)
    assert lease.spec is not None
    lease.spec.holder_identity = ""  # the rival steps down
    leases.replace_namespaced_lease("kserve-vault-sync", namespace, lease)
    wait_for(lambda: key_in(core, namespace) == new_id,
             what="the replica to lead and sync again")


def test_a_standby_refuses_triggers(daemons: Start, bao: hvac.Client, write_config: WriteConfig,
                                    vault_prefix: str, namespace: str, tmp_path: Path) -> None:
    put_s3(bao, f"{vault_prefix}/s3")
    config = write_config([s3_entry("s3", f"{vault_prefix}/s3", [namespace])])
    token = tmp_path / "token"
    token.write_text("trigger-token-for-the-test\n")
    args = ("--leader-elect", "--lease-namespace", namespace, "--lease-duration", "4",
            "--trigger-token-file", str(token))
    pair = [daemons(config, *args), daemons(config, *args)]
    wait_for(lambda: sum(gauge(d, "leader") for d in pair) == 1 and all(
        d.ready() for d in pair), what="one leader, both ready")
    answers = {}
    for d in pair:
        status, _, headers = http_post(d.url + "/trigger", "trigger-token-for-the-test")
        answers[status] = headers
    assert set(answers) == {202, 503}
    assert int(answers[503]["Retry-After"]) >= 1


BAD_FILES: list[tuple[str, bytes]] = [
    ("not UTF-8", b"vault: {address: \"\xff\xfe\"}\n"),
    ("a float tag on a word", b"sync: {interval: !!float soon}\n"),
    ("an impossible date", b"sync: {interval: !!timestamp 2020-13-45}\n"),
    ("deep nesting", b"a: " + b"[" * 50_000 + b"]" * 50_000 + b"\n"),
    ("an alias bomb", b"a: &a [" + b",".join([b"x"] * 9) + b"]\n" + b"".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n".encode()
        for i in range(7)) + b"credentials: *h\n"),
]


def test_bad_reloads_keep_the_old_config(core: k8s.CoreV1Api, bao: hvac.Client, daemons: Start,
                                        write_config: WriteConfig, vault_prefix: str,
                                        namespace: str) -> None:
    put_s3(bao, f"{vault_prefix}/s3")
    good = write_config([s3_entry("s3", f"{vault_prefix}/s3", [namespace])],
                        sync={"interval": "1s"})
    original = good.read_bytes()
    daemon = daemons(good)
    wait_for(daemon.ready, what="ready")
    for count, (case, data) in enumerate(BAD_FILES, start=1):
        runs = gauge(daemon, "sync_runs_total", 'result="success"')
        swap = good.with_suffix(".new")
        swap.write_bytes(data)
        swap.replace(good)  # atomically, as a ConfigMap volume does

        def rejected(count: int = count) -> bool:
            return gauge(daemon, "config_reload_failures_total") == count

        def going_on(runs: float = runs) -> bool:
            return gauge(daemon, "sync_runs_total", 'result="success"') > runs + 1

        wait_for(rejected, what=f"{case} to be rejected")
        wait_for(going_on, what=f"cycles to go on after {case}")
    other = namespace + "-later"
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=other)))
    good.write_bytes(original.replace(f'"{namespace}"'.encode(),
                                      f'"{namespace}", "{other}"'.encode()))
    wait_for(lambda: "s3-secret" in {meta(s).name for s in
                                     core.list_namespaced_secret(other).items},
             what="a good config to take effect again")
    assert daemon.proc.poll() is None
    output = daemon.output()
    assert "Traceback" not in output and "soon" not in output
    assert len(output) < 2_000_000  # bounded, whatever the files held


def _threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no Threads line")


def test_http_port_is_bounded_and_dual_stack(daemons: Start, bao: hvac.Client,
                                             write_config: WriteConfig, vault_prefix: str,
                                             namespace: str) -> None:
    put_s3(bao, f"{vault_prefix}/s3")
    config = write_config([s3_entry("s3", f"{vault_prefix}/s3", [namespace])])
    daemon = daemons(config, host="")
    wait_for(daemon.ready, what="ready")
    assert http_get(daemon.url + "/healthz")[0] == 200
    if socket.has_dualstack_ipv6():
        assert http_get(f"http://[::1]:{daemon.port}/healthz")[0] == 200
    baseline = _threads(daemon.proc.pid)
    idle: list[socket.socket] = []
    try:
        for _ in range(300):  # half-sent requests that never finish
            conn = socket.create_connection(("127.0.0.1", daemon.port), timeout=5)
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            idle.append(conn)
        time.sleep(1)
        assert _threads(daemon.proc.pid) <= baseline + 32 + 2
        # Every idle connection is closed by the server: at once beyond the cap, the
        # others when their request timeout (10 s) passes.
        deadline = time.monotonic() + 30
        closed = 0
        for conn in idle:
            conn.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                closed += conn.recv(1024) == b""
            except ConnectionResetError:
                closed += 1
            except TimeoutError:
                pass
        assert closed == len(idle)
        wait_for(lambda: http_get(daemon.url + "/healthz")[0] == 200, timeout=20,
                 what="the port to serve again")
        assert _threads(daemon.proc.pid) <= baseline + 2
    finally:
        for conn in idle:
            conn.close()
