"""KServe in the dev environment: kube-controller-manager and KServe's own manager.

``servers.up(..., kserve=True)`` calls :func:`start` once the API server is up.
It starts, on loopback, kube-controller-manager (Deployments -> ReplicaSets ->
Pods, and each namespace's ``default`` ServiceAccount; no scheduler or kubelet,
so Pods stay Pending) and KServe's controller manager with KServe's own CRDs,
RBAC, ``inferenceservice-config`` and webhook registrations, and KServe's
LLMInferenceService controller (``_start_llmisvc``), changed only where a
cluster without Services, Knative or Istio needs it:

* ``deploy.defaultDeploymentMode: Standard`` (plain Deployments),
  ``ingress.disableIngressCreation`` and ``ingress.disableIstioVirtualHost``;
* each webhook's ``clientConfig`` is ``url: https://127.0.0.1:<port><path>``
  (there is no Service network) with ``caBundle`` the dev CA that signed the
  webhook's serving certificate. The paths are KServe's.

Both run under their own identities: a ServiceAccount token each, bound to
Kubernetes' bootstrap role ``system:kube-controller-manager`` (controllers then
use their own ServiceAccounts, ``--use-service-account-credentials``) and to
KServe's ``kserve-manager-role``. Their pids go into state.json like the other
servers, so ``down`` stops them.
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from devenv import binaries, kserve, pki, servers
from devenv.progress import log
from devenv.servers import DevEnvError, Env, http_ok, record, spawn, wait_ready

NAMESPACE = "kserve"
MANAGER_SA = "kserve-controller-manager"
LLMISVC_SA = "llmisvc-controller-manager"
KCM_SA = "kube-controller-manager"
TOKEN_DURATION = "720h"  # as long as the dev certificates (30 days)
# Deployments -> ReplicaSets -> Pods, and the `default` ServiceAccount that
# Pods without serviceAccountName need (the API server's admission requires it).
KCM_CONTROLLERS = "serviceaccount-controller,deployment-controller,replicaset-controller"


@dataclass(frozen=True)
class _Cluster:
    """The running dev environment and where this module keeps its files."""

    state: Env
    folder: Path
    kubectl_bin: Path

    @property
    def work(self) -> Path:
        return self.folder / "kserve"

    @property
    def pki(self) -> Path:
        return Path(self.state.ca_cert).parent

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        """Run kubectl as the dev admin; raise DevEnvError with its stderr on failure."""
        done = subprocess.run(
            [str(self.kubectl_bin), "--kubeconfig", self.state.kubeconfig, *args],
            input=stdin, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise DevEnvError(f"kubectl {' '.join(args[:3])} failed: "
                              f"{done.stderr.strip()[-1500:]}")
        return done.stdout

    def apply(self, objects: list[dict[str, Any]]) -> None:
        # Server-side apply: KServe's InferenceService CRD is larger than the
        # annotation client-side apply would store.
        self.kubectl("apply", "--server-side", "--force-conflicts",
                     "--field-manager=kvs-dev-env", "-f", "-",
                     stdin="\n".join(json.dumps(o) for o in objects))

    def identity(self, namespace: str, sa: str, role: str) -> Path:
        """A kubeconfig acting as ServiceAccount ``namespace/sa`` bound to ClusterRole ``role``."""
        self.apply([
            {"apiVersion": "v1", "kind": "ServiceAccount",
             "metadata": {"name": sa, "namespace": namespace}},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
             "metadata": {"name": f"kvs-dev:{namespace}:{sa}"},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                         "name": role},
             "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": namespace}]},
        ])
        token = self.kubectl("create", "token", sa, "-n", namespace,
                             f"--duration={TOKEN_DURATION}").strip()
        path = self.work / f"{sa}.kubeconfig"
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "c",
            "clusters": [{"name": "c", "cluster": {"server": self.state.apiserver_url,
                                                   "certificate-authority": self.state.ca_cert}}],
            "users": [{"name": sa, "user": {"token": token}}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": sa}}]}))
        path.chmod(0o600)
        return path


# libyaml's loader when PyYAML has it: KServe's CRDs are megabytes of YAML.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.load_all(path.read_text(), Loader=_LOADER) if d]


def _with_images(docs: list[dict[str, Any]], kustomization: Path) -> list[dict[str, Any]]:
    """Apply a kustomization's ``images:`` renames (``name:replace`` -> ``newName:newTag``)."""
    renames = {i["name"]: f"{i['newName']}:{i['newTag']}"
               for i in yaml.safe_load(kustomization.read_text()).get("images") or []}
    text = json.dumps(docs)
    for name, image in renames.items():
        text = text.replace(f'"{name}:replace"', json.dumps(image))
    loaded: list[dict[str, Any]] = json.loads(text)
    return loaded


def isvc_config(assets: kserve.KServe) -> dict[str, Any]:
    """KServe's inferenceservice-config, set to plain Deployments and no ingress."""
    doc = _load(assets.file("config/configmap/inferenceservice.yaml"))[0]
    data = doc["data"]
    deploy = json.loads(data["deploy"])
    deploy["defaultDeploymentMode"] = "Standard"
    data["deploy"] = json.dumps(deploy, indent=2)
    ingress = json.loads(data["ingress"])
    ingress["disableIngressCreation"] = True
    ingress["disableIstioVirtualHost"] = True  # no Istio CRDs: KServe warns on every reconcile
    data["ingress"] = json.dumps(ingress, indent=2)
    doc["metadata"]["namespace"] = NAMESPACE
    return doc


def webhook_configs(assets: kserve.KServe, port: int, ca_bundle: bytes) -> list[dict[str, Any]]:
    """KServe's webhook registrations with each service reference made a loopback URL."""
    docs = _load(assets.file("config/webhook/manifests.yaml"))
    for doc in docs:
        doc["metadata"].pop("creationTimestamp", None)
        for hook in doc["webhooks"]:
            path = hook["clientConfig"]["service"]["path"]
            hook["clientConfig"] = {"url": f"https://127.0.0.1:{port}{path}",
                                    "caBundle": base64.b64encode(ca_bundle).decode()}
    return docs


def _bounded(what: str, check: Callable[[], bool], timeout: float = servers.READY_TIMEOUT
             ) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except DevEnvError as exc:
            last = str(exc)
        time.sleep(0.5)
    raise DevEnvError(f"{what} not ready after {timeout:.0f}s: {last}")


def start(state: Env, folder: Path, kubectl_bin: Path) -> None:
    """Start kube-controller-manager and KServe's manager; return when both serve."""
    t0 = time.monotonic()
    kcm_bin = binaries.controller_manager()
    assets = kserve.ensure()
    cluster = _Cluster(state, folder, kubectl_bin)
    cluster.work.mkdir(exist_ok=True)
    _start_kcm(cluster, kcm_bin)
    log(f"kube-controller-manager ready ({time.monotonic() - t0:.1f}s)")
    _start_kserve(cluster, assets)
    log(f"KServe {assets.version} manager and webhooks ready ({time.monotonic() - t0:.1f}s)")
    _start_llmisvc(cluster, assets)
    log(f"KServe {assets.version} LLMInferenceService controller ready "
         f"({time.monotonic() - t0:.1f}s)")


def _start_kcm(cluster: _Cluster, kcm_bin: Path) -> None:
    state = cluster.state
    config = cluster.identity("kube-system", KCM_SA, "system:kube-controller-manager")
    cert, key = pki.make_serving_cert(cluster.pki, "kube-controller-manager",
                                      cluster.work / "kcm-certs")
    port = servers.free_port()
    proc = spawn("kube-controller-manager", [
        str(kcm_bin), f"--kubeconfig={config}", f"--controllers={KCM_CONTROLLERS}",
        "--use-service-account-credentials=true", "--leader-elect=false",
        "--bind-address=127.0.0.1", f"--secure-port={port}",
        f"--tls-cert-file={cert}", f"--tls-private-key-file={key}",
        f"--root-ca-file={state.ca_cert}", "--profiling=false",
    ], cluster.folder)
    record(state, "kube-controller-manager", proc)
    ca = Path(state.ca_cert)
    wait_ready("kube-controller-manager", proc,
                lambda: http_ok(f"https://127.0.0.1:{port}/healthz", ca=ca), cluster.folder)
    # The serviceaccount controller has run once it made `default` in `default`.
    _bounded("kube-controller-manager's serviceaccount controller",
             lambda: bool(cluster.kubectl("get", "serviceaccount", "default", "-n", "default",
                                          "-o", "name")))


def _install_crds(cluster: _Cluster, what: str, crds: list[dict[str, Any]]) -> None:
    cluster.apply(crds)

    def established() -> bool:
        # Not `kubectl wait`: it errors out on a CRD whose status has no conditions yet.
        # Only the conditions are fetched: the LLMInferenceService CRD alone is megabytes.
        got = cluster.kubectl(
            "get", "crd", *(crd["metadata"]["name"] for crd in crds), "-o",
            'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Established")].status}'
            '{"\\n"}{end}')
        return got.split() == ["True"] * len(crds)
    _bounded(what, established)


def _start_kserve(cluster: _Cluster, assets: kserve.KServe) -> None:
    cluster.apply(_load(assets.file("config/base/namespace.yaml")))
    _install_crds(cluster, "KServe's CRDs", [_load(p)[0] for p in assets.crds()])
    role = _load(assets.file("config/rbac/role.yaml"))
    cluster.apply([*role, isvc_config(assets)])
    config = cluster.identity(NAMESPACE, MANAGER_SA, role[0]["metadata"]["name"])
    # controller-runtime reads its serving certificate from
    # $TMPDIR/k8s-webhook-server/serving-certs; KServe's main has no flag for it.
    tmpdir = cluster.work / "tmp"
    pki.make_serving_cert(cluster.pki, "kserve-webhook",
                          tmpdir / "k8s-webhook-server" / "serving-certs")
    probe_port, webhook_port = servers.free_port(), servers.free_port()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cluster.work), "TMPDIR": str(tmpdir),
           "KUBECONFIG": str(config), "POD_NAMESPACE": NAMESPACE}
    proc = spawn("kserve-manager", [
        str(assets.manager), "--metrics-addr=0", f"--health-probe-addr=127.0.0.1:{probe_port}",
        f"--webhook-port={webhook_port}",
    ], cluster.folder, env=env)
    record(cluster.state, "kserve-manager", proc)
    wait_ready("kserve-manager", proc,
                lambda: http_ok(f"http://127.0.0.1:{probe_port}/readyz"), cluster.folder)
    cluster.apply(webhook_configs(assets, webhook_port,
                                  Path(cluster.state.ca_cert).read_bytes()))
    # Through the validating webhook, as a user's install would go: proves the
    # API server reaches KServe's webhook over TLS before any test relies on it.
    storage = _with_images(_load(assets.file("config/storagecontainers/default.yaml")),
                           assets.file("config/storagecontainers/kustomization.yaml"))
    runtimes = _with_images(
        [_load(assets.file(f"config/runtimes/kserve-{n}.yaml"))[0]
         for n in ("sklearnserver", "huggingfaceserver")],
        assets.file("config/runtimes/kustomization.yaml"))

    def installed() -> bool:
        cluster.apply(storage + runtimes)
        return True
    _bounded("KServe's webhooks", installed)


def _start_llmisvc(cluster: _Cluster, assets: kserve.KServe) -> None:
    """KServe's LLMInferenceService controller (cmd/llmisvc) under its own identity,
    with its CRDs, the LeaderWorkerSet CRD it looks up, and the well-known
    LLMInferenceServiceConfigs it merges into every service. Its webhooks (validation,
    v1alpha1 conversion) are served but not registered: the tests create v1alpha2
    objects, the storage version, so nothing needs converting."""
    _install_crds(cluster, "the LLMInferenceService CRDs",
                  [_load(p)[0] for p in assets.llmisvc_files("crds")])
    role = _load(assets.llmisvc_files("role")[0])
    cluster.apply(role)
    config = cluster.identity(NAMESPACE, LLMISVC_SA, role[0]["metadata"]["name"])
    tmpdir = cluster.work / "llmisvc-tmp"
    pki.make_serving_cert(cluster.pki, "llmisvc-webhook",
                          tmpdir / "k8s-webhook-server" / "serving-certs")
    probe_port, webhook_port = servers.free_port(), servers.free_port()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cluster.work), "TMPDIR": str(tmpdir),
           "KUBECONFIG": str(config), "POD_NAMESPACE": NAMESPACE}
    proc = spawn("kserve-llmisvc", [
        str(assets.llmisvc), "--metrics-addr=0",
        f"--health-probe-addr=127.0.0.1:{probe_port}", f"--webhook-port={webhook_port}",
    ], cluster.folder, env=env)
    record(cluster.state, "kserve-llmisvc", proc)
    wait_ready("kserve-llmisvc", proc,
                lambda: http_ok(f"http://127.0.0.1:{probe_port}/readyz"), cluster.folder)
    presets = [{**doc, "metadata": {**doc["metadata"], "namespace": NAMESPACE}}
               for path in assets.llmisvc_files("configs") for doc in _load(path)]
    cluster.apply(presets)
