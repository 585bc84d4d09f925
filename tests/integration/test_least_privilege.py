"""Least privilege with namespace-scoped RBAC (manifests/namespaced): the syncer's
ServiceAccount can do what it needs in its target namespace and cannot read
Secrets anywhere else - asked of the real RBAC authorizer, then proven by a sync
that runs as that ServiceAccount with `sync.namespaceScoped: true`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import hvac
import pytest
from kubernetes import client as k8s

from devenv import servers
from tests.entries import put_s3, s3_entry
from tests.helpers import WriteConfig, install_namespaced_rbac, sa_kubeconfig, secret_data
from tests.integration.cluster_tools import allowed

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_namespace_scoped_rbac(kube_api: k8s.ApiClient, core: k8s.CoreV1Api, bao: hvac.Client,
                               devenv: servers.Env, vault_prefix: str, namespace: str,
                               tmp_path: Path, write_config: WriteConfig) -> None:
    home = install_namespaced_rbac(devenv, [namespace])
    user = f"system:serviceaccount:{home}:kserve-vault-sync"
    elsewhere = f"{namespace}-other"
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=elsewhere)))

    for verb in ("list", "get", "create", "patch"):
        assert allowed(kube_api, user, verb, "secrets", namespace), verb
        assert allowed(kube_api, user, verb, "serviceaccounts", namespace), verb
    for verb in ("get", "list", "watch"):
        assert not allowed(kube_api, user, verb, "secrets", elsewhere), verb
        assert not allowed(kube_api, user, verb, "secrets", None), f"cluster-wide {verb}"
    assert not allowed(kube_api, user, "update", "secrets", namespace)  # patch suffices
    assert not allowed(kube_api, user, "create", "namespaces", None)
    assert allowed(kube_api, user, "list", "namespaces", None)

    kubeconfig = sa_kubeconfig(core, devenv, home, "kserve-vault-sync",
                               tmp_path / "kubeconfig")
    put_s3(bao, f"{vault_prefix}/s3")
    config = write_config([s3_entry("s3", f"{vault_prefix}/s3", [namespace],
                                 storageConfig={"key": "m"})], sync={"namespaceScoped": True})
    args = [str(BIN / "kserve-vault-sync"), "once", "-c", str(config), "--kubeconfig",
            str(kubeconfig), "--state-namespace", home]
    first = subprocess.run(args, capture_output=True, text=True, check=False)
    print(first.stdout, first.stderr)
    assert first.returncode == 0
    assert secret_data(core, namespace, "s3-secret")
    second = subprocess.run(args, capture_output=True, text=True, check=False)
    assert second.returncode == 0 and "3 unchanged" in second.stdout, second.stdout
    # Without namespaceScoped the cluster-wide list is refused: a clear failure.
    config.write_text(config.read_text().replace('"namespaceScoped": true',
                                                 '"namespaceScoped": false'))
    refused = subprocess.run(args, capture_output=True, text=True, check=False)
    assert refused.returncode == 1
    assert "HTTP 403 Forbidden" in refused.stderr
