"""The KServe dev environment (`scripts/dev-env up --kserve`): kube-controller-manager,
KServe's manager and its LLMInferenceService controller run under their own
identities, KServe's webhooks are registered on loopback TLS, and `down` stops
every process it started."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from devenv import kserve, kserve_servers, servers

pytestmark = pytest.mark.integration


def test_up_with_kserve_then_down_stops_every_pid(tmp_path: Path) -> None:
    env = servers.up(tmp_path / "env", kserve=True)
    pids = {name: int(p["pid"]) for name, p in env.processes.items()}  # type: ignore[call-overload]
    try:
        assert set(pids) == {"etcd", "kube-apiserver", "openbao", "kube-controller-manager",
                             "kserve-manager", "kserve-llmisvc"}
    finally:
        stopped = servers.down(tmp_path / "env")
    assert sorted(stopped) == sorted(pids.values())
    for pid in pids.values():
        assert not Path(f"/proc/{pid}").exists() or \
            "zombie" in Path(f"/proc/{pid}/status").read_text(), pid


def test_kserve_runs_as_its_own_serviceaccount_behind_loopback_webhooks(
        kserve_devenv: servers.Env) -> None:
    configuration = k8s.Configuration()
    # kubernetes.config has no annotations (the client models do)
    k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=kserve_devenv.kubeconfig, client_configuration=configuration)
    api = k8s.ApiClient(configuration)
    hooks = k8s.AdmissionregistrationV1Api(api).read_mutating_webhook_configuration(
        "inferenceservice.serving.kserve.io")
    ca = Path(kserve_devenv.ca_cert).read_bytes()
    assert hooks.webhooks is not None
    paths: set[str] = set()
    for hook in hooks.webhooks:
        url, bundle = hook.client_config.url, hook.client_config.ca_bundle
        assert url is not None and bundle is not None, hook.name
        assert url.startswith("https://127.0.0.1:")
        assert base64.b64decode(bundle) == ca
        paths.add(url.rsplit("/", 1)[1])
    assert paths == {
        "mutate-serving-kserve-io-v1beta1-inferenceservice", "mutate-pods"}
    # KServe's own runtime and storage container went through its validating webhook.
    custom = k8s.CustomObjectsApi(api)
    custom.get_cluster_custom_object("serving.kserve.io", "v1alpha1",
                                     "clusterservingruntimes", "kserve-sklearnserver")
    # The managers act as ServiceAccounts, not as the dev admin.
    for sa, path in (("kserve-controller-manager", "kserve"),
                     ("llmisvc-controller-manager", "kserve"),
                     ("kube-controller-manager", "kube-system")):
        config = json.loads((Path(kserve_devenv.dir) / "kserve" / f"{sa}.kubeconfig")
                            .read_text())
        assert config["users"][0]["user"]["token"] != kserve_devenv.admin_token
        k8s.CoreV1Api(api).read_namespaced_service_account(sa, path)
    cm = k8s.CoreV1Api(api).read_namespaced_config_map("inferenceservice-config", "kserve")
    assert cm.data is not None
    assert json.loads(cm.data["deploy"])["defaultDeploymentMode"] == "Standard"
    assert json.loads(cm.data["ingress"])["disableIngressCreation"] is True


KSERVE_MOD = """module github.com/kserve/kserve

go 1.25.4

require (
\tk8s.io/api v0.34.3
)

// a comment
exclude google.golang.org/grpc/stats/opentelemetry v0.0.0-00010101000000-000000000000

replace sigs.k8s.io/controller-runtime => sigs.k8s.io/controller-runtime v0.19.7 // why

replace (
\tgithub.com/a/b => github.com/a/b v1.0.0
)
"""


def test_kserve_directives_are_copied_from_its_go_mod() -> None:
    assert kserve.module_directives(KSERVE_MOD) == [
        "exclude google.golang.org/grpc/stats/opentelemetry v0.0.0-00010101000000-000000000000",
        "replace sigs.k8s.io/controller-runtime => sigs.k8s.io/controller-runtime v0.19.7",
        "replace github.com/a/b => github.com/a/b v1.0.0",
    ]


def test_crd_files_follow_the_kustomization(tmp_path: Path) -> None:
    full = tmp_path / "config" / "crd" / "full"
    (full / "sub").mkdir(parents=True)
    (full / "kustomization.yaml").write_text("resources:\n  - a.yaml\n  - ./sub\n")
    (full / "sub" / "kustomization.yaml").write_text("resources:\n  - b.yaml\npatches: []\n")
    assert kserve.crd_files(tmp_path) == ["config/crd/full/a.yaml",
                                          "config/crd/full/sub/b.yaml"]


def test_webhook_service_references_become_loopback_urls(tmp_path: Path) -> None:
    manifests = tmp_path / "config" / "webhook" / "manifests.yaml"
    manifests.parent.mkdir(parents=True)
    manifests.write_text(
        "apiVersion: admissionregistration.k8s.io/v1\nkind: MutatingWebhookConfiguration\n"
        "metadata: {name: x, creationTimestamp: null}\nwebhooks:\n- name: pods\n"
        "  clientConfig:\n    service: {name: $(svc), namespace: $(ns), path: /mutate-pods}\n"
        "  rules: []\n")
    [doc] = kserve_servers.webhook_configs(kserve.KServe("v0", tmp_path), 9443, b"CA")
    assert doc["metadata"] == {"name": "x"}
    assert doc["webhooks"][0]["clientConfig"] == {
        "url": "https://127.0.0.1:9443/mutate-pods", "caBundle": base64.b64encode(b"CA").decode()}
