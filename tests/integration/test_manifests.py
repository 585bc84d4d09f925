"""The shipped manifests, chart, alerts, dashboard and container files are valid:
promtool tests the alerts; kustomize and Helm output passes a server-side dry
run on the real kube-apiserver (ServiceMonitor and PrometheusRule against the
prometheus-operator CRD schemas); the shipped RBAC is enough to sync."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import hvac
import pytest
import yaml
from kubernetes import client as k8s

from devenv import servers, tools
from syncer.loader import parse
from syncer.metrics import Metrics
from tests.entries import put_s3, s3_entry
from tests.helpers import WriteConfig, sa_kubeconfig, secret_data

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
KUBECTL = Path(sys.executable).parent / "kubectl"
RULES = ROOT / "manifests" / "prometheus" / "rules.yaml"


def run(*args: str | Path, stdin: str | None = None, check: bool = True
        ) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in args], input=stdin, capture_output=True,
                            text=True, timeout=300, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"{args[0]} failed ({result.returncode}):\n"
                             f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


@pytest.fixture(scope="module")
def crds(devenv: servers.Env) -> Iterator[None]:
    """Install the prometheus-operator CRDs so their kinds validate against real schemas."""
    for path in tools.prometheus_operator_crds().values():
        run(KUBECTL, "--kubeconfig", devenv.kubeconfig, "apply", "--server-side", "-f", path)
    run(KUBECTL, "--kubeconfig", devenv.kubeconfig, "wait", "--for=condition=Established",
        "crd/servicemonitors.monitoring.coreos.com", "crd/prometheusrules.monitoring.coreos.com",
        "--timeout=60s")
    yield


def dry_run(devenv: servers.Env, manifest: str, namespace: str) -> str:
    return run(KUBECTL, "--kubeconfig", devenv.kubeconfig, "apply", "--dry-run=server",
               "-n", namespace, "-f", "-", stdin=manifest).stdout


class TestAlerts:
    def test_rules_are_identical_everywhere(self) -> None:
        rules = yaml.safe_load(RULES.read_text())
        rule_cr = yaml.safe_load((ROOT / "manifests/base/prometheusrule.yaml").read_text())
        chart = yaml.safe_load((ROOT / "charts/kserve-vault-sync/files/rules.yaml").read_text())
        assert rule_cr["spec"] == rules == chart
        names = {r["alert"] for g in rules["groups"] for r in g["rules"]}
        assert names == {"KServeVaultSyncFailing", "KServeVaultSyncStale",
                         "KServeVaultSyncTokenExpiring", "KServeVaultSyncConflicts",
                         "KServeVaultSyncDown"}

    def test_promtool_check_and_unit_tests(self) -> None:
        promtool = tools.promtool()
        run(promtool, "check", "rules", RULES)
        out = run(promtool, "test", "rules", RULES.parent / "rules.test.yaml")
        assert "SUCCESS" in out.stdout + out.stderr

    def test_alerts_and_dashboard_use_only_exported_metrics(self) -> None:
        exported = {m.name for m in Metrics().registry.collect()}
        # Counters are exposed with _total; histograms with _bucket/_sum/_count.
        known = exported | {f"{n}_total" for n in exported} | {
            f"{n}_{s}" for n in exported for s in ("bucket", "sum", "count")}
        dashboard = json.loads((ROOT / "manifests/grafana/dashboard.json").read_text())
        exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
        exprs += [r["expr"] for g in yaml.safe_load(RULES.read_text())["groups"]
                  for r in g["rules"]]
        used = {m for e in exprs for m in re.findall(r"kserve_vault_sync_\w+", e)}
        assert used and used <= known, used - known


class TestKubernetesManifests:
    def test_kustomize_base_server_side_dry_run(self, devenv: servers.Env, crds: None,
                                                core: k8s.CoreV1Api) -> None:
        rendered = run(KUBECTL, "kustomize", ROOT / "manifests/base").stdout
        kinds = sorted(d["kind"] for d in yaml.safe_load_all(rendered) if d)
        assert kinds == sorted(["Namespace", "ServiceAccount", "ClusterRole",
                                "ClusterRoleBinding", "Role", "RoleBinding", "ConfigMap",
                                "Deployment", "Service", "PodDisruptionBudget",
                                "ServiceMonitor", "PrometheusRule"])
        _ensure_namespace(core, "kserve-vault-sync")
        out = dry_run(devenv, rendered, "kserve-vault-sync")
        assert "servicemonitor.monitoring.coreos.com/kserve-vault-sync created (server dry run)" \
            in out

    def test_shipped_mapping_validates(self) -> None:
        """The mappings shipped in the kustomize base and the chart parse (a ConfigError
        would fail this test) and each maps at least one credential."""
        configs = [parse(doc["data"]["config.yaml"], environ={}) for doc in
                   yaml.safe_load_all((ROOT / "manifests/base/configmap.yaml").read_text())]
        values = yaml.safe_load((ROOT / "charts/kserve-vault-sync/values.yaml").read_text())
        configs.append(parse(yaml.safe_dump(values["config"]), environ={}))
        assert len(configs) == 2 and all(c.credentials for c in configs)

    def test_helm_lint_template_and_dry_run(self, devenv: servers.Env, crds: None,
                                            core: k8s.CoreV1Api, namespace: str) -> None:
        helm = tools.helm()
        chart = ROOT / "charts/kserve-vault-sync"
        run(helm, "lint", chart, "--strict")
        rendered = run(helm, "template", "kvs", chart, "-n", namespace).stdout
        docs = [d for d in yaml.safe_load_all(rendered) if d]
        assert {d["kind"] for d in docs} >= {"Deployment", "ServiceMonitor", "PrometheusRule",
                                             "PodDisruptionBudget", "ConfigMap"}
        rule = next(d for d in docs if d["kind"] == "PrometheusRule")
        assert rule["spec"] == yaml.safe_load(RULES.read_text())
        out = dry_run(devenv, rendered, namespace)
        assert "deployment.apps/kvs created (server dry run)" in out
        off = run(helm, "template", "kvs", chart, "--set", "serviceMonitor.enabled=false",
                  "--set", "prometheusRule.enabled=false", "--set", "replicaCount=3").stdout
        kinds = {d["kind"] for d in yaml.safe_load_all(off) if d}
        assert "ServiceMonitor" not in kinds and "PrometheusRule" not in kinds
        assert "replicas: 3" in off

    def test_shipped_rbac_is_enough_to_sync(self, devenv: servers.Env, core: k8s.CoreV1Api,
                                            bao: hvac.Client, vault_prefix: str,
                                            namespace: str, tmp_path: Path,
                                            write_config: WriteConfig) -> None:
        """Apply the real RBAC, then sync as the syncer's own ServiceAccount."""
        rendered = run(KUBECTL, "kustomize", ROOT / "manifests/base").stdout
        keep = [d for d in yaml.safe_load_all(rendered) if d and d["kind"] in {
            "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}]
        _ensure_namespace(core, "kserve-vault-sync")
        run(KUBECTL, "--kubeconfig", devenv.kubeconfig, "apply", "-f", "-",
            stdin=yaml.safe_dump_all(keep))
        kubeconfig = sa_kubeconfig(core, devenv, "kserve-vault-sync", "kserve-vault-sync",
                                   tmp_path / "kubeconfig")
        put_s3(bao, f"{vault_prefix}/s3")
        config = write_config([s3_entry("s3", f"{vault_prefix}/s3", [namespace],
                                     storageConfig={"key": "m"})])
        result = run(Path(sys.executable).parent / "kserve-vault-sync", "once", "-c", config,
                     "--kubeconfig", kubeconfig, check=False)
        print(result.stdout, result.stderr)
        assert result.returncode == 0
        assert secret_data(core, namespace, "s3-secret")
        assert sorted(s.name for s in core.read_namespaced_service_account(
            "s3-sa", namespace).secrets) == ["s3-secret"]


def _ensure_namespace(core: k8s.CoreV1Api, name: str) -> None:
    try:
        core.read_namespace(name)
    except k8s.ApiException as exc:
        if exc.status != 404:
            raise
        core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))


class TestContainerFiles:
    def test_dockerfile_is_multistage_slim_and_non_root(self) -> None:
        lines = [ln.strip() for ln in (ROOT / "Dockerfile").read_text().splitlines()
                 if ln.strip() and not ln.strip().startswith("#")]
        froms = [ln for ln in lines if ln.startswith("FROM")]
        assert len(froms) >= 2, "multi-stage"
        final = lines[lines.index(froms[-1]):]
        assert not any(re.search(r"\b(apt-get|apk|gcc|build-essential|pip install)\b", ln)
                       for ln in final), "no build tools in the final stage"
        user = [ln for ln in final if ln.startswith("USER")]
        assert user and user[-1].split()[1].split(":")[0] not in {"0", "root"}
        assert any(ln.startswith("COPY --from=build") for ln in final)
        assert not any(":latest" in ln for ln in lines)
        assert any("slim" in ln for ln in lines if ln.startswith("ARG PYTHON_IMAGE"))

    def test_compose_file_validates(self) -> None:
        compose = tools.docker_compose()
        assert compose is not None, "docker-compose is needed to validate docker-compose.yml"
        out = run(compose, "-f", ROOT / "docker-compose.yml", "config", "-q")
        assert out.returncode == 0
