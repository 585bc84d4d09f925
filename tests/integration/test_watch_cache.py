"""While its watches are healthy the daemon's no-op cycles list nothing: the
watch cache stands in for the lists (counted from the API server's audit log),
and after the watch breaks the cycles list again until it has re-listed."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import hvac
import pytest

from devenv import servers
from tests.entries import put_s3, s3_entry
from tests.helpers import AuditLog, WriteConfig
from tests.integration.daemon_helpers import Daemon, metric, wait_for

pytestmark = pytest.mark.integration


def ours(audit: AuditLog, verb: str, resources: set[str]) -> list[dict[str, object]]:
    return [e for e in audit.events() if e.get("stage") == "ResponseComplete"
            and e["verb"] == verb and (e.get("objectRef") or {}).get("resource") in resources
            and str(e.get("userAgent", "")).startswith("kserve-vault-sync")]


def cycles(daemon: Daemon) -> float:
    return metric(daemon.scrape(), "kserve_vault_sync_sync_duration_seconds_count") or 0


def test_no_op_cycles_list_nothing_while_the_watch_is_healthy(
        bao: hvac.Client, daemons: Callable[..., Daemon], write_config: WriteConfig,
        vault_prefix: str, namespace: str, audit: AuditLog) -> None:
    put_s3(bao, f"{vault_prefix}/s3")
    config = write_config([s3_entry("s3", f"{vault_prefix}/s3", [namespace])],
                          sync={"interval": "1s", "jitter": "0%"})
    daemon = daemons(config)
    wait_for(lambda: cycles(daemon) >= 3, what="three cycles")
    audit.mark()
    start = cycles(daemon)
    wait_for(lambda: cycles(daemon) >= start + 4, what="four more cycles")
    objects = {"secrets", "serviceaccounts"}
    assert ours(audit, "list", objects) == []
    assert [e for e in audit.writes(namespaces={namespace})
            if str(e.get("userAgent", "")).startswith("kserve-vault-sync")] == []


def test_after_the_watch_breaks_cycles_list_until_it_relisted(
        bao: hvac.Client, daemons: Callable[..., Daemon], write_config: WriteConfig,
        vault_prefix: str, namespace: str, devenv: servers.Env) -> None:
    """The API server restarts: the watches break, so cycles list again (the cache is
    not trusted); once the watches have re-listed, no-op cycles stop listing."""
    put_s3(bao, f"{vault_prefix}/s3")
    config = write_config([s3_entry("s3", f"{vault_prefix}/s3", [namespace])],
                          sync={"interval": "1s", "jitter": "0%"})
    daemon = daemons(config)
    wait_for(lambda: cycles(daemon) >= 3, what="three cycles")
    folder = Path(devenv.dir)
    servers.stop_server(folder, "kube-apiserver")
    audit = AuditLog(devenv.audit_log)
    audit.mark()
    time.sleep(2)
    servers.start_server(folder, "kube-apiserver")
    objects = {"secrets", "serviceaccounts"}
    # Cycles listed while the watches were down or re-listing.
    wait_for(lambda: len(ours(audit, "list", objects)) >= 3, timeout=60,
             what="lists after the restart")
    wait_for(lambda: (metric(daemon.scrape(), "kserve_vault_sync_watch_restarts_total",
                             'kind="Secret",reason="error"') or 0) >= 1, what="a watch restart")
    time.sleep(3)  # the watches re-list; then no-op cycles rely on them again
    audit.mark()
    start = cycles(daemon)
    wait_for(lambda: cycles(daemon) >= start + 4, what="four more cycles")
    assert ours(audit, "list", objects) == []
