"""Find or build KServe's controller manager and the manifests it needs.

KServe is pinned to one release (``KSERVE_VERSION``, proven versions in
README.md). Everything lands in ``~/.cache/kserve-vault-sync/kserve/<version>/``
(``$XDG_CACHE_HOME`` honoured), never in the repo, and is built once:

* ``manager`` - ``github.com/kserve/kserve/cmd/manager`` built from the Go
  module proxy. KServe's go.mod carries ``replace`` and ``exclude`` directives
  that only apply in KServe's own module, so a wrapper module requires KServe
  at the exact version and copies those directives (read from the proxy's
  ``.mod`` file, not written down here).
* ``config/...`` - files copied out of the module as ``go mod download``
  unpacks it, at their paths in KServe's tree: the CRDs that
  ``config/crd/full/kustomization.yaml`` lists, ``inferenceservice-config``,
  the webhook registrations, the manager's RBAC, the default
  ClusterStorageContainer and two ClusterServingRuntimes.
* ``llmisvc`` - ``cmd/llmisvc``, KServe's LLMInferenceService controller (a
  binary of its own), built the same way, with its CRDs, RBAC and well-known
  LLMInferenceServiceConfigs from the module, and the LeaderWorkerSet CRD
  from ``sigs.k8s.io/lws`` at the version KServe's go.mod requires: the
  controller looks a LeaderWorkerSet up on every reconcile and fails without
  the kind (no LeaderWorkerSet controller is needed).

The ``COMPLETE`` marker is written last, so a half-finished build is redone;
``LLMISVC`` likewise for the second step, which a cache from before it gets
on first use without rebuilding the manager.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from devenv.progress import fetch_mod, install, locked, log, run_logged
from devenv.tools import tools_dir

MODULE = "github.com/kserve/kserve"
KSERVE_VERSION = os.environ.get("KVS_KSERVE_VERSION", "v0.17.0")
CRD_KUSTOMIZATION = "config/crd/full/kustomization.yaml"
LLMISVC_CRDS = "config/crd/full/llmisvc/kustomization.yaml"  # resources only, no patches
LLMISVC_CONFIGS = "config/llmisvcconfig/kustomization.yaml"
LLMISVC_ROLE = "config/rbac/llmisvc/role.yaml"
LWS_MODULE = "sigs.k8s.io/lws"
LWS_CRD = "config/crd/bases/leaderworkerset.x-k8s.io_leaderworkersets.yaml"
# Files used as they are (paths inside the module).
FILES = (
    "config/configmap/inferenceservice.yaml",
    "config/webhook/manifests.yaml",
    "config/base/namespace.yaml",
    "config/rbac/role.yaml",
    "config/storagecontainers/default.yaml",
    "config/storagecontainers/kustomization.yaml",
    "config/runtimes/kserve-sklearnserver.yaml",
    "config/runtimes/kserve-huggingfaceserver.yaml",
    "config/runtimes/kustomization.yaml",
)


@dataclass(frozen=True)
class KServe:
    """The cached manager binary and KServe's own manifests for one version."""

    version: str
    root: Path

    @property
    def manager(self) -> Path:
        return self.root / "manager"

    def file(self, relative: str) -> Path:
        return self.root / relative

    def crds(self) -> list[Path]:
        listed = (self.root / "CRDS").read_text().split()
        return [self.root / name for name in listed]

    @property
    def llmisvc(self) -> Path:
        return self.root / "llmisvc"

    def llmisvc_files(self, kind: str) -> list[Path]:
        """``crds`` (LLMInferenceService and its config kind, and LeaderWorkerSet),
        ``configs`` (the well-known LLMInferenceServiceConfigs) or ``role``."""
        listed = json.loads((self.root / "LLMISVC").read_text())[kind]
        return [self.root / name for name in listed]


def kserve_dir(version: str = KSERVE_VERSION) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "kserve-vault-sync" / "kserve" / version


def find(version: str = KSERVE_VERSION) -> KServe | None:
    root = kserve_dir(version)
    return KServe(version, root) if (root / "COMPLETE").exists() else None


def ensure(version: str = KSERVE_VERSION) -> KServe:
    """The cached KServe, building it on first use."""
    found = find(version)
    if found is not None and (found.root / "LLMISVC").exists():
        return found
    if shutil.which("go") is None:
        raise RuntimeError(f"Go is not installed; it is needed to build KServe {version}")
    with locked(tools_dir(), f"kserve-{version}"):
        found = find(version)  # another process built it while we waited
        if found is None:
            _build(version)
            found = find(version)
        if found is not None and not (found.root / "LLMISVC").exists():
            _build_llmisvc(version)
    if found is None:  # pragma: no cover - _build raises on failure
        raise RuntimeError("KServe build finished but the cache is incomplete")
    return found


def module_directives(kserve_mod: str) -> list[str]:
    """KServe's ``replace`` and ``exclude`` directives, single-line or in blocks."""
    out: list[str] = []
    block: str | None = None
    for raw in kserve_mod.splitlines():
        line = raw.split("//", 1)[0].strip()
        if block is not None:
            if line == ")":
                block = None
            elif line:
                out.append(f"{block} {line}")
            continue
        match = re.match(r"^(replace|exclude)\s*(\(?)\s*(.*)$", line)
        if not match:
            continue
        if match.group(2) == "(":
            block = match.group(1)
        else:
            out.append(f"{match.group(1)} {match.group(3)}")
    return out


def crd_files(module_dir: Path, kustomization: str = CRD_KUSTOMIZATION) -> list[str]:
    """The CRD files a kustomization lists, following listed folders (no patches)."""
    folder = (module_dir / kustomization).parent
    doc = yaml.safe_load((module_dir / kustomization).read_text())
    out: list[str] = []
    for resource in doc.get("resources") or []:
        path = (folder / resource).resolve()
        if path.is_dir():
            out.extend(crd_files(module_dir, str((path / "kustomization.yaml")
                                                 .relative_to(module_dir.resolve()))))
        else:
            out.append(str(path.relative_to(module_dir.resolve())))
    return out


def _wrapper(work: Path, version: str, command: str) -> str:
    """A module that requires KServe with its directives; returns KServe's go.mod."""
    kserve_mod = fetch_mod(MODULE, version)
    go_line = re.search(r"^go\s+(\S+)", kserve_mod, re.M)
    (work / "go.mod").write_text(
        f"module kvs/kserve\n\ngo {go_line.group(1) if go_line else '1.25'}\n\n"
        f"require {MODULE} {version}\n\n" + "\n".join(module_directives(kserve_mod)) + "\n")
    (work / "tools.go").write_text(
        f'//go:build tools\n\npackage tools\n\nimport _ "{MODULE}/cmd/{command}"\n')
    run_logged(["go", "mod", "tidy"], work, "resolve KServe modules")
    return kserve_mod


def _module_dir(work: Path, module: str, version: str) -> Path:
    """Where ``go mod download`` unpacked ``module@version``."""
    proc = subprocess.run(["go", "mod", "download", "-json", f"{module}@{version}"],
                          cwd=work, capture_output=True, text=True, timeout=900, check=False)
    info = json.loads(proc.stdout or "{}")
    if proc.returncode != 0 or "Dir" not in info:
        raise RuntimeError(f"go mod download {module}@{version} failed: "
                           f"{info.get('Error') or proc.stderr}")
    return Path(info["Dir"])


def _copy(source: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    install(source, dest)
    dest.chmod(0o644)  # the module cache's files are read-only


def _build_llmisvc(version: str) -> None:
    """cmd/llmisvc and its manifests into an existing cache entry (``LLMISVC`` last)."""
    target = kserve_dir(version)
    log(f"building KServe {version}'s LLMInferenceService controller (cmd/llmisvc) "
         "(first time only; a minute or two once the manager is built)")
    with tempfile.TemporaryDirectory(prefix="kvs-llmisvc-build-") as tmp:
        work = Path(tmp)
        kserve_mod = _wrapper(work, version, "llmisvc")
        run_logged(["go", "build", "-o", str(work / "llmisvc"), f"{MODULE}/cmd/llmisvc"], work,
                   "build KServe llmisvc controller")
        module_dir = _module_dir(work, MODULE, version)
        listed = {"crds": crd_files(module_dir, LLMISVC_CRDS),
                  "configs": crd_files(module_dir, LLMISVC_CONFIGS), "role": [LLMISVC_ROLE]}
        for relative in (*listed["crds"], *listed["configs"], LLMISVC_ROLE):
            _copy(module_dir / relative, target / relative)
        lws = re.search(rf"^\s*{re.escape(LWS_MODULE)}\s+(v\S+)", kserve_mod, re.M)
        if not lws:
            raise RuntimeError(f"KServe {version}'s go.mod does not require {LWS_MODULE}")
        lws_crd = f"lws/{lws.group(1)}/{LWS_CRD.rsplit('/', 1)[1]}"
        _copy(_module_dir(work, LWS_MODULE, lws.group(1)) / LWS_CRD, target / lws_crd)
        listed["crds"].append(lws_crd)
        install(work / "llmisvc", target / "llmisvc")
    (target / "LLMISVC").write_text(json.dumps(listed, indent=1) + "\n")


def _build(version: str) -> None:
    target = kserve_dir(version)
    if target.exists():
        shutil.rmtree(target)  # an earlier build was interrupted: start clean
    target.mkdir(parents=True)
    log(f"building KServe {version} (cmd/manager) into {target} "
         "(first time only; a few minutes on 2 cores)")
    with tempfile.TemporaryDirectory(prefix="kvs-kserve-build-") as tmp:
        work = Path(tmp)
        directives = module_directives(_wrapper(work, version, "manager"))
        run_logged(["go", "build", "-o", str(work / "manager"), f"{MODULE}/cmd/manager"], work,
                   "build KServe manager")
        module_dir = _module_dir(work, MODULE, version)
        crds = crd_files(module_dir)
        for relative in (*FILES, *crds):
            _copy(module_dir / relative, target / relative)
        install(work / "manager", target / "manager")
    (target / "CRDS").write_text("\n".join(crds) + "\n")
    (target / "SOURCE").write_text(f"{MODULE} {version} (Go module proxy)\n"
                                   + "\n".join(directives) + "\n")
    (target / "COMPLETE").write_text(version + "\n")
