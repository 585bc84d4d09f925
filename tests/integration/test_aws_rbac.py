"""The shipped RBAC lets the syncer keep its lease store (a Secret in its own
namespace, by name) and nothing more: a dynamic AWS key synced as the syncer's
own ServiceAccount with the namespace-scoped manifests, and the same grant
asked of the RBAC authorizer for the cluster-wide manifests."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import hvac
import pytest
import yaml
from kubernetes import client as k8s

from devenv import servers, vaultserver
from syncer.leasestore import store_name
from tests import seeds
from tests.awsmoto import VaultMoto
from tests.helpers import WriteConfig, install_namespaced_rbac, sa_kubeconfig, secret_data
from tests.integration.cluster_tools import allowed
from tests.kubeobjects import data_of
from tests.vaultsetup import aws_iam_user_role, enable_aws_engine, leases

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture
def moto() -> Iterator[VaultMoto]:
    with VaultMoto() as server:
        seeds.register("aws-rbac-moto-root", server.initial_key[1])
        yield server


def test_lease_store_with_shipped_rbac(
        kube_api: k8s.ApiClient, core: k8s.CoreV1Api, bao: hvac.Client,
        vault_server: vaultserver.DevVault, devenv: servers.Env, moto: VaultMoto,
        namespace: str, tmp_path: Path, write_config: WriteConfig) -> None:
    home = install_namespaced_rbac(devenv, [namespace])
    user = f"system:serviceaccount:{home}:kserve-vault-sync"
    for verb in ("get", "update"):
        assert allowed(kube_api, user, verb, "secrets", home, name=store_name())
        assert not allowed(kube_api, user, verb, "secrets", home, name="someone-elses")
    assert allowed(kube_api, user, "create", "secrets", home)

    mount = f"aws-{namespace[-6:]}"
    enable_aws_engine(bao, vault_server, mount, moto)
    aws_iam_user_role(bao, mount, "reader")
    config = write_config([{
        "name": "models", "type": "s3", "vault": {"engine": "aws", "mount": mount,
                                                  "role": "reader"},
        "targets": [{"namespaces": [namespace], "secret": "s3-models"}]}],
        sync={"instance": "default", "namespaceScoped": True})
    kubeconfig = sa_kubeconfig(core, devenv, home, "kserve-vault-sync", tmp_path / "kc")
    args = [str(BIN / "kserve-vault-sync"), "once", "-c", str(config), "--kubeconfig",
            str(kubeconfig), "--state-namespace", home]
    for _ in range(2):  # the store created, then updated as of its resourceVersion
        done = subprocess.run(args, capture_output=True, text=True, check=False)
        print(done.stdout, done.stderr)
        assert done.returncode == 0
    seeds.register("aws-rbac-key", secret_data(core, namespace, "s3-models")[
        "AWS_SECRET_ACCESS_KEY"])
    assert data_of(core.read_namespaced_secret(store_name(), home))["models"]
    assert len(leases(bao, f"{mount}/creds/reader")) == 1

    # The cluster-wide manifests grant the same in the syncer's namespace.
    rendered = subprocess.run([str(BIN / "kubectl"), "kustomize", str(ROOT / "manifests/base")],
                              capture_output=True, text=True, check=True).stdout
    [role] = [d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "Role"]
    rules = [r for r in role["rules"] if "secrets" in r["resources"]]
    named = [r for r in rules if r.get("resourceNames")]
    assert [(r["resourceNames"], sorted(r["verbs"])) for r in named] == [
        ([store_name()], ["get", "update"])]
    # create cannot be limited by name: the only unnamed rule, and it only creates.
    assert [sorted(r["verbs"]) for r in rules if not r.get("resourceNames")] == [["create"]]
