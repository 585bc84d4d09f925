"""Find or build the tools the tests need besides the control plane.

Everything lands in ``~/.cache/kserve-vault-sync/tools/`` (``$XDG_CACHE_HOME``
honoured), never in the repo, and is built once per pinned version:

* ``promtool`` - out of Debian's ``prometheus`` package (a 19 MB download,
  seconds), or where apt-get cannot be used, built like helm.
* ``helm`` - no package registry we can use ships a Linux helm binary (Debian
  has no helm package; PyPI and npm have none that carries the binary), so it
  is ``go install <pkg>@<version>`` from the Go module proxy; should a pinned
  version's go.mod gain replace directives (``go install`` then refuses), a
  wrapper module requiring it is built instead.
* the Prometheus Operator CRDs for ServiceMonitor and PrometheusRule - copied out
  of the operator's module as ``go mod download`` unpacks it.
* ``docker-compose`` - from PATH, a ``docker compose`` v2 plugin, or Debian's
  package. Its ``config`` command needs no Docker engine.

None of these is needed by the demo: ``make demo`` builds only the control plane.

An fcntl lock per tool keeps two processes from building the same one at once.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from devenv import debian
from devenv.progress import install, locked, log, run_logged

# The pins. Prometheus' Go module numbers 3.Y.Z as v0.3YY.Z.
PROMETHEUS_VERSION = "v0.316.0"  # Prometheus 3.16.0
HELM_VERSION = "v3.22.0"
OPERATOR_MODULE = "github.com/prometheus-operator/prometheus-operator"
OPERATOR_VERSION = "v0.85.0"
CRD_FOLDERS = ("example/prometheus-operator-crd", "example/prometheus-operator-crd-full")
CRD_KINDS = ("servicemonitors", "prometheusrules")


@dataclass(frozen=True)
class GoTool:
    name: str
    package: str  # the main package, inside module
    module: str
    version: str
    ldflags: str  # stamps the version the upstream release build would


PROMTOOL = GoTool("promtool", "github.com/prometheus/prometheus/cmd/promtool",
                  "github.com/prometheus/prometheus", PROMETHEUS_VERSION,
                  "-X github.com/prometheus/common/version.Version=3.16.0")
HELM = GoTool("helm", "helm.sh/helm/v3/cmd/helm", "helm.sh/helm/v3", HELM_VERSION,
              f"-X helm.sh/helm/v3/internal/version.version={HELM_VERSION}")


def tools_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "kserve-vault-sync" / "tools"


def require_go(what: str) -> None:
    if shutil.which("go") is None:
        raise RuntimeError(f"Go is not installed; it is needed to build {what}")


def _build_wrapper(tool: GoTool, work: Path, env: dict[str, str]) -> None:
    """Build ``tool`` from a module that requires it, where its replace directives don't apply."""
    work.mkdir()
    (work / "go.mod").write_text(
        f"module kvs/tools/{tool.name}\n\ngo 1.22\n\nrequire {tool.module} {tool.version}\n")
    (work / "tools.go").write_text(
        f'//go:build tools\n\npackage tools\n\nimport _ "{tool.package}"\n')
    run_logged(["go", "mod", "tidy"], work, f"resolve {tool.name} modules", env)
    out = str(work.parent / "bin" / tool.name)
    run_logged(["go", "build", f"-ldflags={tool.ldflags}", "-o", out, tool.package], work,
               f"build {tool.name} (wrapper module)", env)


def go_tool(tool: GoTool) -> Path:
    """The cached binary for ``tool``, built with ``go install`` on first use."""
    target = tools_dir() / tool.name / tool.version / tool.name
    if target.exists():
        return target
    require_go(tool.name)
    with locked(tools_dir(), tool.name):
        if target.exists():  # another process built it while we waited
            return target
        log(f"building {tool.name} {tool.version} into {target.parent} "
            "(first time only; a few minutes on 2 cores)")
        with tempfile.TemporaryDirectory(prefix=f"kvs-{tool.name}-build-") as tmp:
            work = Path(tmp)
            env = {**os.environ, "GOBIN": str(work / "bin")}
            try:
                command = ["go", "install", f"-ldflags={tool.ldflags}",
                           f"{tool.package}@{tool.version}"]
                run_logged(command, work, f"build {tool.name}", env)
            except RuntimeError as exc:
                if "replace directives" not in str(exc):
                    raise
                log(f"go install refused {tool.module}'s replace directives; wrapping it")
                _build_wrapper(tool, work / "wrapper", env)
            install(work / "bin" / tool.name, target)
    return target


def promtool() -> Path:
    """Debian's promtool when apt-get can fetch it, else a build from the Go proxy."""
    target = tools_dir() / "promtool" / "debian" / "promtool"
    if target.exists():
        return target
    reason = debian.usable()
    if reason:
        log(f"promtool from Debian unavailable ({reason}); building it instead")
        return go_tool(PROMTOOL)
    with locked(tools_dir(), "promtool-debian"):  # not "promtool": a Go build of it may be running
        if not target.exists():
            log("taking promtool out of Debian's prometheus package (not installing it)")
            version = debian.extract("prometheus", "usr/bin/promtool", target)
            (target.parent / "VERSION").write_text(f"prometheus {version} (Debian)\n")
    return target


def helm() -> Path:
    return go_tool(HELM)


def prometheus_operator_crds() -> dict[str, Path]:
    """The ServiceMonitor and PrometheusRule CRD files, keyed by plural name."""
    folder = tools_dir() / "prometheus-operator-crds" / OPERATOR_VERSION
    wanted = {kind: folder / f"monitoring.coreos.com_{kind}.yaml" for kind in CRD_KINDS}
    if all(p.exists() for p in wanted.values()):
        return wanted
    require_go("the Prometheus Operator CRDs")
    with locked(tools_dir(), "prometheus-operator-crds"), tempfile.TemporaryDirectory() as tmp:
        if all(p.exists() for p in wanted.values()):
            return wanted
        ref = f"{OPERATOR_MODULE}@{OPERATOR_VERSION}"
        log(f"downloading {ref} from the Go module proxy for its CRDs")
        proc = subprocess.run(["go", "mod", "download", "-json", ref], cwd=tmp,
                              capture_output=True, text=True, timeout=900, check=False)
        info = json.loads(proc.stdout or "{}")
        if proc.returncode != 0 or "Dir" not in info:
            raise RuntimeError(f"go mod download {ref} failed: {info.get('Error') or proc.stderr}")
        module_dir = Path(info["Dir"])
        for sub in CRD_FOLDERS:
            if all((module_dir / sub / p.name).exists() for p in wanted.values()):
                for path in wanted.values():
                    install(module_dir / sub / path.name, path)
                (folder / "SOURCE").write_text(f"{ref} {sub}\n")
                return wanted
        raise RuntimeError(f"{ref} has none of {CRD_FOLDERS} holding {sorted(CRD_KINDS)} CRDs")


def _works(cmd: list[str]) -> bool:
    try:
        return subprocess.run(cmd, capture_output=True, timeout=60, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _compose_on_machine() -> Path | None:
    found = shutil.which("docker-compose")
    if found and _works([found, "version"]):
        return Path(found)
    docker = shutil.which("docker")
    if docker and _works([docker, "compose", "version"]):
        # A shim so callers can always run `<path> config ...` like docker-compose.
        shim = tools_dir() / "docker-compose"
        if not shim.exists():
            tools_dir().mkdir(parents=True, exist_ok=True)
            partial = shim.with_name(".docker-compose.partial")
            partial.write_text(f'#!/bin/sh\nexec "{docker}" compose "$@"\n')
            partial.chmod(0o755)
            partial.replace(shim)
        return shim
    return None


def docker_compose() -> Path | None:
    """A docker-compose able to run ``config`` (no engine needed), or None if impossible."""
    found = _compose_on_machine()
    if found is not None:
        return found
    with locked(tools_dir(), "docker-compose"):
        found = _compose_on_machine()
        if found is not None:
            return found
        try:
            debian.install(["docker-compose"])
        except (debian.DebianError, RuntimeError) as exc:
            log(f"docker-compose not found and not installable: {exc} "
                 "(or put docker-compose on PATH)")
            return None
        found = _compose_on_machine()
    if found is None:
        log("apt-get installed docker-compose but `docker-compose version` fails")
    return found


def ensure_all() -> dict[str, Path | None]:
    """Find or build every tool, logging how long each took."""
    found: dict[str, Path | None] = {}
    steps = [("promtool", promtool), ("helm", helm), ("docker-compose", docker_compose)]
    for name, step in steps:
        start = time.monotonic()
        found[name] = step()
        log(f"{name} ready in {time.monotonic() - start:.1f}s")
    start = time.monotonic()
    for kind, path in prometheus_operator_crds().items():
        found[f"crd {kind}"] = path
    log(f"CRDs ready in {time.monotonic() - start:.1f}s")
    return found
