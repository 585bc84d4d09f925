"""Debian's packages as a source of dev and test tools.

A packaged tool installs in seconds where a build from source takes minutes
(promtool: about 9 minutes of ``go install`` on 2 cores, against a 19 MB
download). Two ways in:

* :func:`install` - ``apt-get install`` for tools that are whole programs with
  their own configuration (podman, runc, mmdebstrap, docker-compose);
* :func:`extract` - one file out of a package's ``.deb`` without installing it,
  for a single static binary whose package would also bring a service and its
  dependencies (promtool out of ``prometheus``).

Both need ``apt-get`` (Debian or a derivative) and root, as CI has; each says
so plainly when it cannot work.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from devenv.progress import log, run_logged

_APT_ENV = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
# apt-get drops to the _apt user to download, which cannot write to a private
# temporary folder; the files are verified against the signed index either way.
_APT_OPTS = ["-o", "APT::Sandbox::User=root"]


class DebianError(RuntimeError):
    """A Debian package could not be installed or unpacked."""


def usable() -> str | None:
    """None when apt-get can install packages here, else the reason it cannot."""
    if shutil.which("apt-get") is None:
        return "apt-get not found (not a Debian-based machine)"
    if os.geteuid() != 0:
        return "apt-get needs root"
    return None


def installed(package: str) -> bool:
    proc = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True,
                          text=True, timeout=60, check=False)
    return proc.returncode == 0 and proc.stdout.strip().endswith(" installed")


def _apt(args: list[str], cwd: Path, what: str) -> None:
    """Run apt-get; on failure refresh the package lists once and retry."""
    try:
        run_logged(["apt-get", *_APT_OPTS, *args], cwd, what, _APT_ENV)
    except RuntimeError:
        log(f"{what} failed; retrying after apt-get update")
        run_logged(["apt-get", *_APT_OPTS, "update", "-qq"], cwd, "apt-get update", _APT_ENV)
        run_logged(["apt-get", *_APT_OPTS, *args], cwd, what, _APT_ENV)


def install(packages: list[str]) -> None:
    """``apt-get install`` the packages that are not installed yet (no recommends)."""
    missing = [p for p in packages if not installed(p)]
    if not missing:
        return
    reason = usable()
    if reason:
        raise DebianError(f"cannot install {' '.join(missing)}: {reason}")
    with tempfile.TemporaryDirectory(prefix="kvs-apt-") as tmp:
        _apt(["install", "-y", "-qq", "--no-install-recommends", *missing], Path(tmp),
             f"apt-get install {' '.join(missing)}")


def extract(package: str, member: str, target: Path) -> str:
    """Copy ``member`` (e.g. ``usr/bin/promtool``) out of ``package``'s .deb to
    ``target`` without installing the package; return the package's version."""
    reason = usable()
    if reason:
        raise DebianError(f"cannot download Debian's {package}: {reason}")
    with tempfile.TemporaryDirectory(prefix=f"kvs-deb-{package}-") as tmp:
        work = Path(tmp)
        _apt(["download", package], work, f"apt-get download {package}")
        debs = sorted(work.glob(f"{package}_*.deb"))
        if not debs:
            raise DebianError(f"apt-get download {package} produced no .deb")
        run_logged(["dpkg-deb", "-x", str(debs[0]), str(work / "root")], work,
                   f"unpack {debs[0].name}")
        source = work / "root" / member
        if not source.is_file():
            raise DebianError(f"{debs[0].name} has no {member}")
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        shutil.copyfile(source, partial)
        partial.chmod(0o755)
        partial.replace(target)  # never half a binary in the cache
        version = subprocess.run(["dpkg-deb", "-f", str(debs[0]), "Version"],
                                 capture_output=True, text=True, timeout=60, check=True)
        return version.stdout.strip()
