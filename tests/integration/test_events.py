"""What a namespace tenant sees with `kubectl describe`: Events on our objects,
found the way kubectl finds them (involvedObject name, kind and uid)."""

from __future__ import annotations

import base64
from collections.abc import Callable

import hvac
import pytest
from kubernetes import client as k8s

from tests import seeds
from tests.entries import put_s3, s3_entry
from tests.helpers import WriteConfig
from tests.kubeobjects import meta

pytestmark = pytest.mark.integration
Cli = Callable[..., tuple[int, str]]


def described(core: k8s.CoreV1Api, namespace: str, kind: str, name: str) -> list[k8s.CoreV1Event]:
    """The events `kubectl describe <kind> <name>` lists."""
    obj = (core.read_namespaced_secret(name, namespace) if kind == "Secret"
           else core.read_namespaced_service_account(name, namespace))
    selector = (f"involvedObject.name={name},involvedObject.namespace={namespace},"
                f"involvedObject.kind={kind},involvedObject.uid={meta(obj).uid}")
    return list(core.list_namespaced_event(namespace, field_selector=selector).items)


def test_tenants_see_synced_rotated_and_held(core: k8s.CoreV1Api, bao: hvac.Client, cli: Cli,
                                             write_config: WriteConfig, vault_prefix: str,
                                             namespace: str) -> None:
    path = f"{vault_prefix}/s3"
    put_s3(bao, path)
    config = write_config([s3_entry("s3", path, [namespace])])
    assert cli("once", "-c", str(config))[0] == 0
    [synced] = described(core, namespace, "Secret", "s3-secret")
    assert (synced.type, synced.reason) == ("Normal", "Synced")
    assert synced.message == f"created from Vault secret/{path}@1"
    assert synced.source is not None and synced.source.component == "kserve-vault-sync"
    assert [e.reason for e in described(core, namespace, "ServiceAccount", "s3-sa")] == ["Synced"]
    put_s3(bao, path)
    assert cli("once", "-c", str(config))[0] == 0
    reasons = {e.reason: e for e in described(core, namespace, "Secret", "s3-secret")}
    assert reasons["Rotated"].message == f"new credential from Vault secret/{path}@2"
    bao.secrets.kv.v2.create_or_update_secret(path, secret={"access_key": "AKIA1234"})
    assert cli("once", "-c", str(config))[0] == 1
    [held] = [e for e in described(core, namespace, "Secret", "s3-secret") if e.reason == "Held"]
    assert held.type == "Warning" and held.message is not None
    assert "vault.keys.secretAccessKey: key 'secret_key'" in held.message
    assert "is missing" in held.message
    messages: list[str] = []
    for event in core.list_namespaced_event(namespace).items:
        assert event.message is not None, event.reason
        messages.append(event.message)
    text = " ".join(messages)
    for label, needle in seeds.needles():
        assert needle not in text, label
        assert base64.b64encode(needle.encode()).decode() not in text, label
