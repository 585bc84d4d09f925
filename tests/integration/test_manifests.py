"""The shipped manifests, alerts, runbooks, dashboard and compose file are
valid: promtool tests the alerts, each alert links a runbook in the repo, and
kustomize output (the base, the monitoring and rollout components, the
namespaced overlay) passes a server-side dry run on the real kube-apiserver
(ServiceMonitor and PrometheusRule against the prometheus-operator CRD
schemas); the shipped RBAC is enough to sync. The Helm chart is in
test_chart.py, the Dockerfile and image in test_image.py."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import hvac
import pytest
import yaml
from kubernetes import client as k8s

from devenv import servers, tools
from syncer.loader import parse
from syncer.metrics import Metrics
from tests.entries import put_s3, s3_entry
from tests.helpers import WriteConfig, sa_kubeconfig, secret_data
from tests.integration.cluster_tools import KUBECTL, dry_run, run
from tests.kubeobjects import listed

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "manifests" / "prometheus" / "rules.yaml"
RULE_COPIES = {"chart": ROOT / "charts/kserve-vault-sync/files/rules.yaml",
               "kustomize": ROOT / "manifests/components/monitoring/prometheusrule.yaml"}
ALERTS = {"KServeVaultSyncFailing", "KServeVaultSyncStale", "KServeVaultSyncTokenExpiring",
          "KServeVaultSyncConflicts", "KServeVaultSyncDown", "KServeVaultSyncNoLeader"}
RUNBOOK_SECTIONS = ("## Meaning", "## Impact", "## Diagnosis", "## Fix")


def _rules() -> list[dict[str, Any]]:
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


class TestAlerts:
    def test_rules_are_identical_everywhere(self) -> None:
        """One set of alerts: the chart's copy byte for byte, the kustomize
        PrometheusRule's spec in content."""
        assert RULE_COPIES["chart"].read_text() == RULES.read_text(), (
            f"copy {RULES.relative_to(ROOT)} to {RULE_COPIES['chart'].relative_to(ROOT)}")
        rule_cr = yaml.safe_load(RULE_COPIES["kustomize"].read_text())
        assert rule_cr["spec"] == yaml.safe_load(RULES.read_text()), (
            f"{RULE_COPIES['kustomize'].relative_to(ROOT)} spec differs from "
            f"{RULES.relative_to(ROOT)}")
        assert {r["alert"] for r in _rules()} == ALERTS

    def test_every_alert_links_its_runbook_in_the_repo(self) -> None:
        for rule in _rules():
            url = rule["annotations"]["runbook_url"]
            assert url.endswith(f"/docs/runbooks/{rule['alert']}.md"), url
            runbook = ROOT / "docs" / "runbooks" / f"{rule['alert']}.md"
            text = runbook.read_text()
            assert text.startswith(f"# {rule['alert']}\n"), runbook
            missing = [h for h in RUNBOOK_SECTIONS if h not in text]
            assert not missing, f"{runbook.name} lacks {missing}"
        listed = {p.stem for p in (ROOT / "docs" / "runbooks").glob("*.md")} - {"README"}
        assert listed == ALERTS, "one runbook per alert, no orphans"

    def test_no_alert_depends_on_a_job_name(self) -> None:
        """The job is the Service's name, which follows the Helm release name."""
        for rule in _rules():
            assert not re.search(r"\bjob\s*=~?", str(rule["expr"])), rule["alert"]

    def test_promtool_check_and_unit_tests(self) -> None:
        promtool = tools.promtool()
        run(promtool, "check", "rules", RULES)
        tests = RULES.parent / "rules.test.yaml"
        out = run(promtool, "test", "rules", tests)
        assert "SUCCESS" in out.stdout + out.stderr
        # Each alert is seen firing in at least one unit test, not only staying quiet.
        fired = {t["alertname"] for case in yaml.safe_load(tests.read_text())["tests"]
                 for t in case.get("alert_rule_test", []) if t["exp_alerts"]}
        assert fired == ALERTS

    def test_alerts_and_dashboard_use_only_exported_metrics(self) -> None:
        exported = {m.name for m in Metrics().registry.collect()}
        # Counters are exposed with _total; histograms with _bucket/_sum/_count.
        known = exported | {f"{n}_total" for n in exported} | {
            f"{n}_{s}" for n in exported for s in ("bucket", "sum", "count")}
        dashboard = json.loads((ROOT / "manifests/grafana/dashboard.json").read_text())
        exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
        exprs += [str(r["expr"]) for r in _rules()]
        used = {m for e in exprs for m in re.findall(r"kserve_vault_sync_\w+", e)}
        assert used and used <= known, used - known


BASE_KINDS = ["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role",
              "RoleBinding", "ConfigMap", "Deployment", "Service", "PodDisruptionBudget"]


def kustomize(tmp_path: Path, resource: str, *components: str) -> list[dict[str, Any]]:
    """Build an overlay of ours the way a user would: a kustomization of their own."""
    here = tmp_path / "overlay"
    here.mkdir(exist_ok=True)
    rel = os.path.relpath(ROOT / "manifests", here)
    (here / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": [f"{rel}/{resource}"],
        "components": [f"{rel}/components/{c}" for c in components]}))
    return [d for d in yaml.safe_load_all(run(KUBECTL, "kustomize", here).stdout) if d]


def _rules_of(docs: list[dict[str, Any]], kind: str, name: str) -> list[dict[str, Any]]:
    found = next(d for d in docs if d["kind"] == kind
                 and d["metadata"]["name"] == name)
    rules: list[dict[str, Any]] = found["rules"]
    return rules


class TestKustomize:
    def test_base_needs_no_crds_and_passes_a_dry_run(self, devenv: servers.Env,
                                                      core: k8s.CoreV1Api) -> None:
        rendered = run(KUBECTL, "kustomize", ROOT / "manifests/base").stdout
        docs = [d for d in yaml.safe_load_all(rendered) if d]
        assert sorted(d["kind"] for d in docs) == sorted(BASE_KINDS)
        # Least privilege by default: no rollout rights unless the component is added.
        groups = {g for r in _rules_of(docs, "ClusterRole", "kserve-vault-sync")
                  for g in r["apiGroups"]}
        assert groups == {""}
        service = next(d for d in docs if d["kind"] == "Service")
        assert service["metadata"]["labels"]["app.kubernetes.io/part-of"] == "kserve-vault-sync"
        _ensure_namespace(core, "kserve-vault-sync")
        out = dry_run(devenv, rendered, "kserve-vault-sync")
        assert "deployment.apps/kserve-vault-sync created (server dry run)" in out

    def test_monitoring_and_rollout_components(self, devenv: servers.Env, crds: None,
                                               core: k8s.CoreV1Api, tmp_path: Path) -> None:
        docs = kustomize(tmp_path, "base", "monitoring", "rollouts")
        kinds = sorted(d["kind"] for d in docs)
        assert kinds == sorted([*BASE_KINDS, "ServiceMonitor", "PrometheusRule"])
        assert all(d["metadata"].get("namespace") == "kserve-vault-sync"
                   for d in docs if d["kind"] in {"ServiceMonitor", "PrometheusRule"})
        groups = {g for r in _rules_of(docs, "ClusterRole", "kserve-vault-sync")
                  for g in r["apiGroups"]}
        assert groups == {"", "apps", "serving.kserve.io"}
        monitor = next(d for d in docs if d["kind"] == "ServiceMonitor")
        assert monitor["spec"]["targetLabels"] == ["app.kubernetes.io/part-of"]
        _ensure_namespace(core, "kserve-vault-sync")
        out = dry_run(devenv, yaml.safe_dump_all(docs), "kserve-vault-sync")
        assert "servicemonitor.monitoring.coreos.com/kserve-vault-sync created (server dry run)" \
            in out
        assert "prometheusrule.monitoring.coreos.com/kserve-vault-sync created (server dry run)" \
            in out

    def test_namespaced_overlay_drops_cluster_wide_secret_rights(
            self, devenv: servers.Env, crds: None, core: k8s.CoreV1Api, tmp_path: Path) -> None:
        docs = kustomize(tmp_path, "namespaced", "monitoring")
        cluster_roles = {d["metadata"]["name"]: d for d in docs
                         if d["kind"] == "ClusterRole"}
        assert set(cluster_roles) == {"kserve-vault-sync-target", "kserve-vault-sync-namespaces"}
        namespaces_role = cluster_roles["kserve-vault-sync-namespaces"]["rules"]
        assert namespaces_role == [  # no Secret, and nothing written
            {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list"]},
            {"apiGroups": [""], "resources": ["configmaps"],
             "resourceNames": ["inferenceservice-config"], "verbs": ["get"]}]
        bindings = [d for d in docs if d["kind"] == "ClusterRoleBinding"]
        assert [b["roleRef"]["name"] for b in bindings] == [
            "kserve-vault-sync-namespaces"]
        config = next(d for d in docs if d["kind"] == "ConfigMap")
        assert parse(config["data"]["config.yaml"],
                     environ={}).sync.namespace_scoped
        _ensure_namespace(core, "kserve-vault-sync")
        _ensure_namespace(core, "team-a")
        # No -n: the objects name their namespaces (kserve-vault-sync, and team-a).
        out = run(KUBECTL, "--kubeconfig", devenv.kubeconfig, "apply", "--dry-run=server",
                  "-f", "-", stdin=yaml.safe_dump_all(docs)).stdout
        assert "rolebinding.rbac.authorization.k8s.io/kserve-vault-sync created (server dry run)" \
            in out

    def test_shipped_mappings_validate(self) -> None:
        """The mappings shipped in the kustomize base, the namespaced overlay and the
        chart parse (a ConfigError would fail this test), each mapping credentials."""
        configs = [parse(doc["data"]["config.yaml"], environ={}) for doc in
                   yaml.safe_load_all((ROOT / "manifests/base/configmap.yaml").read_text())]
        scoped = yaml.safe_load((ROOT / "manifests/namespaced/config.yaml").read_text())
        configs.append(parse(scoped["data"]["config.yaml"], environ={}))
        assert configs[-1].sync.namespace_scoped
        values = yaml.safe_load((ROOT / "charts/kserve-vault-sync/values.yaml").read_text())
        configs.append(parse(yaml.safe_dump(values["config"]), environ={}))
        assert len(configs) == 3 and all(c.credentials for c in configs)

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
        assert sorted(listed(core.read_namespaced_service_account("s3-sa", namespace))) == [
            "s3-secret"]


def _ensure_namespace(core: k8s.CoreV1Api, name: str) -> None:
    try:
        core.read_namespace(name)
    except k8s.ApiException as exc:
        if exc.status != 404:
            raise
        core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))


class TestCompose:
    def test_compose_file_validates(self) -> None:
        compose = tools.docker_compose()
        assert compose is not None, "docker-compose is needed to validate docker-compose.yml"
        out = run(compose, "-f", ROOT / "docker-compose.yml", "config", "-q")
        assert out.returncode == 0
