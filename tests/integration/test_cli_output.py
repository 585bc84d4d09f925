"""What scripts and people see from the CLI on the real servers: stable JSON and
YAML documents, and render without a cluster."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import hvac
import pytest
import yaml

from tests.entries import put_s3, s3_entry
from tests.helpers import WriteConfig

pytestmark = pytest.mark.integration
Cli = Callable[..., tuple[int, str]]


def _document(out: str) -> str:
    """The command's output without the JSON log lines on stderr."""
    return "\n".join(line for line in out.splitlines() if not line.startswith('{"event"')
                     and not line.startswith('{"method"') and '"level":' not in line)


def test_once_and_status_as_json_and_yaml(bao: hvac.Client, cli: Cli, write_config: WriteConfig,
                                          vault_prefix: str, namespace: str) -> None:
    put_s3(bao, f"{vault_prefix}/s3")
    config = write_config([s3_entry("s3", f"{vault_prefix}/s3", [namespace])])
    code, out = cli("once", "-c", str(config), "-o", "json", "--log-level", "error")
    assert code == 0
    document = json.loads(_document(out))
    assert document["kind"] == "SyncResult" and document["failed"] is False
    assert {(o["kind"], o["name"], o["result"]) for o in document["objects"]} == {
        ("Secret", "s3-secret", "created"), ("ServiceAccount", "s3-sa", "created")}
    assert document["counts"] == {"created": 2} and document["vaultReads"] == 1
    code, out = cli("once", "-c", str(config), "-o", "yaml", "--log-level", "error")
    assert code == 0 and yaml.safe_load(_document(out))["counts"] == {"unchanged": 2}
    code, out = cli("status", "-c", str(config), "-o", "json", "--log-level", "error")
    [item] = json.loads(_document(out))["items"]
    assert code == 0 and item["state"] == "in sync" and item["namespace"] == namespace


def test_render_needs_no_cluster_for_named_namespaces(bao: hvac.Client, cli: Cli,
                                                      write_config: WriteConfig,
                                                      vault_prefix: str, namespace: str,
                                                      tmp_path: Path) -> None:
    put_s3(bao, f"{vault_prefix}/s3")
    config = write_config([s3_entry("s3", f"{vault_prefix}/s3", [namespace])])
    code, out = cli("render", "-c", str(config), "--kubeconfig", str(tmp_path / "none"),
                    "--log-level", "error")
    assert code == 0, out
    docs = list(yaml.safe_load_all(_document(out)))
    assert [d["kind"] for d in docs] == ["Secret", "ServiceAccount"]
    assert docs[0]["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kserve-vault-sync"
    selector = write_config([{**s3_entry("s3", f"{vault_prefix}/s3", []), "targets": [{
        "namespaceSelector": {"matchLabels": {"x": "y"}}, "secret": "s3-secret"}]}])
    code, out = cli("render", "-c", str(selector), "--kubeconfig", str(tmp_path / "none"))
    assert code == 1 and "no usable Kubernetes credentials" in out and "Traceback" not in out
