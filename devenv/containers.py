"""Build and run the project's container image without a Docker engine.

podman (with runc) builds the Dockerfile and runs the image; the base image is
assembled from Debian's packages by mmdebstrap, since no container registry is
reachable from the machines this project is built on. All three tools come
from Debian (``ensure_tools``).

Quirks of the machines this runs on, each handled here once:

* crun refuses their hybrid cgroup setup: podman runs with ``--runtime runc``
  and ``--cgroup-manager=cgroupfs`` (no systemd either).
* podman's default ``nofile``/``nproc`` limits exceed the host's hard limits,
  which root without CAP_SYS_RESOURCE cannot raise: every build and run is
  given limits at or below the caller's own (``ulimits``).
* podman's storage lives in the cache (``~/.cache/kserve-vault-sync/containers``),
  not in the machine-wide store, so tests never see or touch other images.

The base image is keyed by content (suite, package list, options, local CAs)
and ISO week: it is rebuilt at most once a week, picking up Debian's security
updates, and otherwise reused. It trusts the CAs this machine adds to Debian's
(``/usr/local/share/ca-certificates``), so that pip inside a build can reach
PyPI through a TLS-inspecting proxy, and builds pass ``PIP_CERT`` pointing at
the base's bundle (pip's own certificate list knows nothing of local CAs).
"""

from __future__ import annotations

import hashlib
import os
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from devenv import debian
from devenv.progress import log, run_logged

TOOLS = {"podman": "podman", "runc": "runc", "mmdebstrap": "mmdebstrap"}  # command: package
BASE_SUITE = "bookworm"
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
# Documentation and translations are dropped from the base (copyright notices kept).
BASE_DPKG_OPTS = ("path-exclude=/usr/share/man/*", "path-exclude=/usr/share/locale/*",
                  "path-exclude=/usr/share/info/*", "path-exclude=/usr/share/doc/*",
                  "path-include=/usr/share/doc/*/copyright")
BASE_REPO = "localhost/kvs-base"
LOCAL_CAS = Path("/usr/local/share/ca-certificates")  # Debian's place for added CAs
BASE_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"  # inside the base image
# Limits given to every container: enough for the syncer, below any host's hard limit.
NOFILE, NPROC = 20000, 4096


class ContainerError(RuntimeError):
    """The container tools are missing, or a build or run failed."""


def containers_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "kserve-vault-sync" / "containers"


def ensure_tools() -> None:
    """Install podman, runc and mmdebstrap from Debian unless they are on PATH."""
    missing = [pkg for cmd, pkg in TOOLS.items() if shutil.which(cmd) is None]
    if missing:
        log(f"installing {', '.join(missing)} from Debian (first time only)")
        debian.install(missing)
    still = [cmd for cmd in TOOLS if shutil.which(cmd) is None]
    if still:
        raise ContainerError(f"{', '.join(still)} not on PATH after installing them")


def ulimits() -> list[str]:
    """``--ulimit`` flags no higher than this process's own hard limits."""
    flags: list[str] = []
    for name, kind, want in (("nofile", resource.RLIMIT_NOFILE, NOFILE),
                             ("nproc", resource.RLIMIT_NPROC, NPROC)):
        hard = resource.getrlimit(kind)[1]
        value = want if hard == resource.RLIM_INFINITY else min(want, hard)
        flags += ["--ulimit", f"{name}={value}:{value}"]
    return flags


class Podman:
    """podman with this project's storage, runtime and limits."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or containers_dir()
        # One run folder per store: two stores must never share locks and mount state.
        tag = hashlib.sha256(str(self.root).encode()).hexdigest()[:8]
        runroot = Path(tempfile.gettempdir()) / f"kvs-podman-{os.geteuid()}-{tag}"
        self.argv = ["podman", "--root", str(self.root / "storage"), "--runroot", str(runroot),
                     "--runtime", "runc", "--cgroup-manager=cgroupfs",
                     "--events-backend=file", "--storage-driver", "overlay"]

    def __call__(self, *args: str | Path, check: bool = True, timeout: float = 600,
                 stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        cmd = [*self.argv, *(str(a) for a in args)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=stdin,
                              check=False)
        if check and proc.returncode != 0:
            raise ContainerError(f"podman {' '.join(str(a) for a in args[:3])} ... failed "
                                 f"(exit {proc.returncode}):\n{proc.stdout[-2000:]}\n"
                                 f"{proc.stderr[-3000:]}")
        return proc

    def logged(self, args: list[str], cwd: Path, what: str) -> None:
        """A long podman command with a heartbeat (build logs go to cwd/build.log)."""
        run_logged([*self.argv, *args], cwd, what)

    def exists(self, ref: str) -> bool:
        return self("image", "exists", ref, check=False).returncode == 0

    def run(self, image: str, *args: str | Path, options: list[str] | None = None,
            check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """``podman run --rm`` on the host network with the limits this machine allows."""
        return self("run", "--rm", "--network", "host", *ulimits(), *(options or []), image,
                    *args, check=check, timeout=timeout)


def _local_cas() -> list[Path]:
    return sorted(LOCAL_CAS.glob("*.crt")) if LOCAL_CAS.is_dir() else []


def base_tag(week: str | None = None) -> str:
    content = "\n".join([BASE_SUITE, *BASE_PACKAGES, *BASE_DPKG_OPTS]).encode()
    content += b"".join(ca.read_bytes() for ca in _local_cas())
    week = week or time.strftime("%G-w%V")
    return f"{BASE_REPO}:{BASE_SUITE}-{hashlib.sha256(content).hexdigest()[:10]}-{week}"


def base_image(podman: Podman) -> str:
    """The Debian base image (python3 + venv + CA certificates), built if absent."""
    tag = base_tag()
    if podman.exists(tag):
        return tag
    folder = containers_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kvs-base-", dir=folder) as tmp:
        work = Path(tmp)
        rootfs = work / "rootfs.tar"
        log(f"assembling the base image {tag} from Debian {BASE_SUITE} packages "
             "(once a week; about a minute)")
        hooks: list[str] = []
        if _local_cas():
            paths = " ".join(f"'{ca}'" for ca in _local_cas())
            hooks = [f"--customize-hook=copy-in {paths} {LOCAL_CAS}",
                     '--customize-hook=chroot "$1" update-ca-certificates']
        run_logged(["mmdebstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
                    *(f"--dpkgopt={opt}" for opt in BASE_DPKG_OPTS), *hooks,
                    BASE_SUITE, str(rootfs)], work, "mmdebstrap")
        podman.logged(["import", "--change", "CMD [\"python3\"]", str(rootfs), tag], work,
                      f"podman import {tag}")
    _drop_old_bases(podman, keep=tag)
    return tag


def _drop_old_bases(podman: Podman, keep: str) -> None:
    listed = podman("images", "--format", "{{.Repository}}:{{.Tag}}",
                    "--filter", f"reference={BASE_REPO}", check=False).stdout.split()
    for ref in listed:
        if ref != keep:
            podman("rmi", ref, check=False)


def build(podman: Podman, context: Path, tag: str, base: str) -> float:
    """Build ``context``'s Dockerfile on ``base``; return the seconds it took."""
    context = context.resolve()
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kvs-image-build-") as tmp:
        podman.logged(["build", "--pull=never", "--network", "host", *ulimits(),
                       "--build-arg", f"PYTHON_IMAGE={base}",
                       "--build-arg", f"PIP_CERT={BASE_CA_BUNDLE}", "-t", tag,
                       "-f", str(context / "Dockerfile"), str(context)],
                      Path(tmp), f"podman build {tag}")
    return time.monotonic() - start
