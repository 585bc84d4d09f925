"""The Helm chart: `helm lint --strict`, values.schema.json rejecting typos with
the key's name, `helm template` for several value sets each passing a
server-side dry run on the real kube-apiserver, monitoring objects only where
their CRDs are served, and two real installs whose names never collide."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from devenv import servers, tools
from tests.integration.cluster_tools import KUBECTL, dry_run, run

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "kserve-vault-sync"
MONITORING_APIS = ["--api-versions", "monitoring.coreos.com/v1/ServiceMonitor",
                   "--api-versions", "monitoring.coreos.com/v1/PrometheusRule"]
RULES = ROOT / "manifests" / "prometheus" / "rules.yaml"

DEFAULT_CONFIG = yaml.safe_load((CHART / "values.yaml").read_text())["config"]
HF_WITH_ROLLOUT = {"name": "hf", "type": "hf", "vault": {"path": "kserve/hf", "keys": {
    "token": "token"}}, "targets": [{"namespaces": ["team-a"], "secret": "storage-config",
                                     "serviceAccount": "hfserviceacc", "rollout": True}]}
# name -> (values file content, extra helm template arguments); CHECKS below
# holds what each must render.
VALUE_SETS: dict[str, tuple[dict[str, Any], list[str]]] = {
    "defaults": ({}, []),
    "monitoring-crds-served": ({}, MONITORING_APIS),
    "everything": ({
        "nameOverride": "creds-sync", "vaultCAConfigMap": "vault-ca",
        "vaultCAConfigMapKey": "bundle.pem",
        "image": {"digest": "sha256:" + "a" * 64},
        "imagePullSecrets": [{"name": "regcred"}],
        "serviceAccount": {"annotations": {"vault.example/role": "kvs"}},
        "extraEnv": [{"name": "KVS_LOG_LEVEL", "value": "debug"}],
        "extraVolumes": [{"name": "token", "secret": {"secretName": "vault-token"}}],
        "extraVolumeMounts": [{"name": "token", "mountPath": "/var/run/vault"}],
        "podSecurityContext": {"runAsNonRoot": True, "runAsUser": 10001},
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 3},
        "config": {**DEFAULT_CONFIG,
                   "credentials": [*DEFAULT_CONFIG["credentials"], HF_WITH_ROLLOUT]},
        "prometheusRule": {"runbookBaseURL": "https://wiki.example/runbooks/"},
    }, MONITORING_APIS),
    "minimal": ({
        "leaderElection": {"enabled": False}, "podDisruptionBudget": {"enabled": False},
        "leaseStoreRBAC": False,
        "serviceAccount": {"create": False, "name": "existing"},
        "serviceMonitor": {"enabled": False}, "prometheusRule": {"enabled": False},
        "replicaCount": 1, "livenessProbe": None,  # null removes a default
    }, MONITORING_APIS),
}


@pytest.fixture(scope="module")
def helm() -> Path:
    return tools.helm()


def template(helm: Path, release: str, namespace: str, *args: str) -> dict[tuple[str, str], Any]:
    out = run(helm, "template", release, CHART, "-n", namespace, *args).stdout
    return {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(out) if d}


def of_kind(docs: dict[tuple[str, str], Any], kind: str) -> Any:
    found = [d for (k, _), d in docs.items() if k == kind]
    assert len(found) == 1, (kind, sorted(docs))
    return found[0]


def test_lint_strict(helm: Path, tmp_path: Path) -> None:
    run(helm, "lint", CHART, "--strict")
    everything = tmp_path / "values.yaml"
    everything.write_text(yaml.safe_dump({"serviceMonitor": {"enabled": True},
                                          "prometheusRule": {"enabled": True},
                                          "vaultCAConfigMap": "vault-ca", "rolloutRBAC": True}))
    run(helm, "lint", CHART, "--strict", "-f", everything)


@pytest.mark.parametrize(("args", "message"), [
    (["--set", "replicaCont=3"], "additional properties 'replicaCont' not allowed"),
    (["--set", "serviceAccount.anotations.a=b"],
     "at '/serviceAccount': additional properties 'anotations' not allowed"),
    (["--set", "image.pullPolicy=Sometimes"], "at '/image/pullPolicy'"),
    (["--set", "serviceMonitor.enabled=maybe"], "at '/serviceMonitor/enabled'"),
    (["--set", "config.credential=x"], "at '/config': additional properties 'credential'"),
    (["--set", "image.digest=latest"], "at '/image/digest'"),
])
def test_schema_rejects_typos_with_their_name(helm: Path, args: list[str], message: str) -> None:
    result = run(helm, "template", "kvs", CHART, *args, check=False)
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr
    assert message in result.stderr, result.stderr


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_value_set_renders_and_passes_a_server_dry_run(
        helm: Path, name: str, devenv: servers.Env, crds: None, namespace: str,
        tmp_path: Path) -> None:
    values, args = VALUE_SETS[name]
    (tmp_path / "values.yaml").write_text(yaml.safe_dump(values))
    docs = template(helm, "kvs", namespace, "-f", str(tmp_path / "values.yaml"), *args)
    check = CHECKS[name]
    check(docs, namespace)
    for doc in docs.values():
        labels = doc["metadata"]["labels"]
        assert labels["helm.sh/chart"] == "kserve-vault-sync-0.1.0"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["app.kubernetes.io/instance"] == "kvs"
        assert labels["app.kubernetes.io/part-of"] == "kserve-vault-sync"
    manifest = yaml.safe_dump_all(list(docs.values()))
    out = dry_run(devenv, manifest, namespace)
    assert out.count("created (server dry run)") == len(docs), out


def _check_defaults(docs: dict[tuple[str, str], Any], namespace: str) -> None:
    kinds = {k for k, _ in docs}
    assert "ServiceMonitor" not in kinds and "PrometheusRule" not in kinds  # no CRDs known
    deploy = of_kind(docs, "Deployment")
    assert deploy["metadata"]["name"] == "kvs-kserve-vault-sync"
    pod = deploy["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == "ghcr.io/example/kserve-vault-sync:0.1.0"
    assert "VAULT_CACERT" not in {e["name"] for e in container["env"]}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    role = of_kind(docs, "ClusterRole")
    assert role["metadata"]["name"] == f"kvs-kserve-vault-sync-{namespace}"
    assert {g for r in role["rules"] for g in r["apiGroups"]} == {""}, "no rollout rights"


def _check_monitoring(docs: dict[tuple[str, str], Any], namespace: str) -> None:
    monitor = of_kind(docs, "ServiceMonitor")
    assert monitor["spec"]["targetLabels"] == ["app.kubernetes.io/part-of"]
    rule = of_kind(docs, "PrometheusRule")
    assert rule["spec"] == yaml.safe_load(RULES.read_text())


def _check_everything(docs: dict[tuple[str, str], Any], namespace: str) -> None:
    deploy = of_kind(docs, "Deployment")
    assert deploy["metadata"]["name"] == "kvs-creds-sync"
    assert deploy["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] == "creds-sync"
    pod = deploy["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    # VAULT_CACERT names the file the vault-ca ConfigMap's key is mounted as.
    assert env["VAULT_CACERT"] == f"{mounts['vault-ca']}/bundle.pem"
    assert volumes["vault-ca"]["configMap"] == {
        "name": "vault-ca", "items": [{"key": "bundle.pem", "path": "bundle.pem"}]}
    assert env["KVS_LOG_LEVEL"] == "debug"
    assert mounts["token"] == "/var/run/vault"
    assert volumes["token"]["secret"] == {"secretName": "vault-token"}
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert pod["securityContext"]["runAsUser"] == 10001  # merged over the defaults
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["readinessProbe"]["periodSeconds"] == 3
    assert container["image"] == "ghcr.io/example/kserve-vault-sync@sha256:" + "a" * 64
    sa = of_kind(docs, "ServiceAccount")
    assert sa["metadata"]["annotations"] == {"vault.example/role": "kvs"}
    role = of_kind(docs, "ClusterRole")
    assert {g for r in role["rules"] for g in r["apiGroups"]} == {
        "", "apps", "serving.kserve.io"}, "rolloutRBAC auto: a target sets rollout: true"
    rule = of_kind(docs, "PrometheusRule")
    urls = [r["annotations"]["runbook_url"] for g in rule["spec"]["groups"] for r in g["rules"]]
    assert urls and all(u.startswith("https://wiki.example/runbooks/KServeVaultSync")
                        and u.endswith(".md") for u in urls), urls


def _check_minimal(docs: dict[tuple[str, str], Any], namespace: str) -> None:
    kinds = sorted(k for k, _ in docs)
    assert kinds == ["ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "Service"]
    deploy = of_kind(docs, "Deployment")
    pod = deploy["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "existing"
    assert "--leader-elect" not in pod["containers"][0]["args"]
    assert "livenessProbe" not in pod["containers"][0]


CHECKS = {"defaults": _check_defaults, "monitoring-crds-served": _check_monitoring,
          "everything": _check_everything, "minimal": _check_minimal}


@pytest.fixture
def releases(helm: Path, devenv: servers.Env) -> Iterator[list[tuple[str, str]]]:
    """Releases installed by a test, uninstalled after it."""
    installed: list[tuple[str, str]] = []
    yield installed
    for release, namespace in installed:
        run(helm, "uninstall", release, "-n", namespace, "--kubeconfig", devenv.kubeconfig,
            check=False)


def test_two_releases_never_collide(helm: Path, devenv: servers.Env, crds: None,
                                    core: k8s.CoreV1Api, releases: list[tuple[str, str]]) -> None:
    """Real installs: one release name in two namespaces, and a second name beside it.
    Cluster-scoped names carry the namespace, so every install succeeds."""
    suffix = secrets.token_hex(3)
    first, second = f"kvs-one-{suffix}", f"kvs-two-{suffix}"
    for ns in (first, second):
        core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=ns)))
    for release, ns in (("sync", first), ("sync", second), ("other", first)):
        out = run(helm, "install", release, CHART, "-n", ns, "--kubeconfig", devenv.kubeconfig)
        releases.append((release, ns))
        assert "STATUS: deployed" in out.stdout, out.stdout
        # The CRDs are served here, so "auto" renders the monitoring objects.
        assert "No ServiceMonitor was created" not in out.stdout
    names = run(KUBECTL, "--kubeconfig", devenv.kubeconfig, "get", "clusterroles",
                "-l", "app.kubernetes.io/part-of=kserve-vault-sync", "-o", "name").stdout.split()
    assert {f"clusterrole.rbac.authorization.k8s.io/{n}" for n in (
        f"sync-kserve-vault-sync-{first}", f"sync-kserve-vault-sync-{second}",
        f"other-kserve-vault-sync-{first}")} <= set(names)
    monitors = run(KUBECTL, "--kubeconfig", devenv.kubeconfig, "get", "servicemonitors", "-n",
                   first, "-o", "name").stdout.split()
    assert sorted(monitors) == ["servicemonitor.monitoring.coreos.com/other-kserve-vault-sync",
                                "servicemonitor.monitoring.coreos.com/sync-kserve-vault-sync"]
