"""The kubelet's pull-secret lookup as a command: ``pull-keyring`` (a test helper).

No kubelet runs in the dev environment, so the OCI test asks the kubelet's own
code (``k8s.io/kubernetes/pkg/credentialprovider``, at the API server's
version) which credentials it would pull a model image with. The source is
``devenv/go/pull-keyring/main.go``; it is built with the same wrapper module as
kube-controller-manager, into ``~/.cache/kserve-vault-sync/<k8s>/`` under a
name carrying a hash of the source, so an edit rebuilds it and nothing else.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

from devenv.binaries import K8S_VERSION, cache_dir, write_wrapper
from devenv.progress import fetch_mod, install, locked, log, run_logged
from devenv.tools import tools_dir

SOURCE = Path(__file__).resolve().parent / "go" / "pull-keyring" / "main.go"


def pull_keyring(version: str = K8S_VERSION) -> Path:
    """The cached ``pull-keyring`` binary, built on first use (about a minute)."""
    source = SOURCE.read_bytes()
    target = cache_dir(version) / f"pull-keyring-{hashlib.sha256(source).hexdigest()[:12]}"
    if target.exists():
        return target
    if shutil.which("go") is None:
        raise RuntimeError("Go is not installed; it is needed to build the pull-keyring helper")
    target.parent.mkdir(parents=True, exist_ok=True)
    with locked(tools_dir(), f"pull-keyring-{version}"):
        if target.exists():
            return target
        log(f"building the pull-keyring helper against Kubernetes v{version} "
             "(first time only)")
        with tempfile.TemporaryDirectory(prefix="kvs-keyring-build-") as tmp:
            work = Path(tmp)
            write_wrapper(work, version, fetch_mod("k8s.io/kubernetes", f"v{version}"), [],
                           ["k8s.io/kubernetes/pkg/credentialprovider/secrets"])
            (work / "main.go").write_bytes(source)
            run_logged(["go", "mod", "tidy"], work, "resolve pull-keyring modules")
            run_logged(["go", "build", "-o", str(work / "pull-keyring"), "."], work,
                       "build pull-keyring")
            install(work / "pull-keyring", target)
    return target
