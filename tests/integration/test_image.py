"""The container image, built for real: hadolint passes the Dockerfile, podman
builds it on a Debian base assembled by mmdebstrap, and the image runs as
non-root on a read-only root filesystem, syncs the dev environment from the
host network, and carries an SBOM that lists our dependencies.

In CI (CI=true) a missing tool or a failed build fails; locally it skips with
the reason. ``make test-tools`` installs podman, runc and mmdebstrap and
assembles the base image before pytest starts.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import hvac
import pytest
from kubernetes import client as k8s

from devenv import containers, servers
from tests.entries import put_s3, s3_entry
from tests.helpers import IN_CI, WriteConfig, secret_data
from tests.kubeobjects import listed

PROJECT_VERSION = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml")
                                 .read_text())["project"]["version"]
pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
HADOLINT = Path(sys.executable).parent / "hadolint"
TAG = "localhost/kserve-vault-sync:test"
SBOM = "/usr/share/doc/kserve-vault-sync/sbom.cdx.json"


@pytest.fixture(scope="module")
def podman() -> containers.Podman:
    try:
        containers.ensure_tools()
        return containers.Podman()
    except (containers.ContainerError, RuntimeError, OSError) as exc:
        if IN_CI:
            pytest.fail(f"podman/runc/mmdebstrap unavailable (CI=true, so this fails): {exc}")
        pytest.skip(f"container tools unavailable locally: {exc}")


@pytest.fixture(scope="module")
def image(podman: containers.Podman) -> Iterator[str]:
    """Build the Dockerfile twice: the second build must come from the layer cache."""
    try:
        base = containers.base_image(podman)
        first = containers.build(podman, ROOT, TAG, base)
        image_id = podman("image", "inspect", "--format", "{{.Id}}", TAG).stdout.strip()
        cached = containers.build(podman, ROOT, TAG, base)
    except (containers.ContainerError, RuntimeError) as exc:
        if IN_CI:
            pytest.fail(f"the image did not build (CI=true, so this fails): {exc}")
        pytest.skip(f"the image did not build locally: {exc}")
    print(f"image {TAG} on {base}: built in {first:.0f}s, rebuilt from cache in {cached:.0f}s",
          file=sys.stderr)
    assert podman("image", "inspect", "--format", "{{.Id}}", TAG).stdout.strip() == image_id, \
        "an unchanged tree must rebuild to the same image"
    yield TAG


def test_hadolint_passes_the_dockerfile() -> None:
    result = subprocess.run([str(HADOLINT), "--no-color", str(ROOT / "Dockerfile")],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_is_a_real_gate(tmp_path: Path) -> None:
    """The same call fails a Dockerfile that ends as root (DL3002)."""
    bad = tmp_path / "Dockerfile"
    bad.write_text((ROOT / "Dockerfile").read_text().replace("USER 65532:65532", "USER root"))
    result = subprocess.run([str(HADOLINT), "--no-color", str(bad)], capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode != 0
    assert "DL3002" in result.stdout


def test_entrypoint_runs_as_non_root_on_a_read_only_root(podman: containers.Podman,
                                                         image: str) -> None:
    shown = podman.run(image, "--version", options=["--read-only"])
    assert shown.stdout.strip() == f"kserve-vault-sync {PROJECT_VERSION}", shown.stdout
    assert podman("image", "inspect", "--format", "{{.Config.User}}", image
                  ).stdout.strip() == "65532:65532"
    probe = ("import os, pathlib\n"
             "print(os.getuid(), os.getgid())\n"
             "try:\n"
             "    pathlib.Path('/opt/kserve-vault-sync/x').write_text('x')\n"
             "except OSError as exc:\n"
             "    print('write refused:', exc.strerror)\n"
             "print('pip' in os.listdir('/opt/kserve-vault-sync/bin'))\n")
    out = podman.run(image, "-c", probe, options=["--read-only", "--entrypoint", "python3"]
                     ).stdout.splitlines()
    assert out == ["65532 65532", "write refused: Read-only file system", "False"], out


def test_once_syncs_the_dev_environment(podman: containers.Podman, image: str,
                                        devenv: servers.Env, core: k8s.CoreV1Api,
                                        bao: hvac.Client, namespace: str, vault_prefix: str,
                                        write_config: WriteConfig, tmp_path: Path) -> None:
    """`once` from the image, on the host network, against OpenBao and kube-apiserver."""
    key_id, secret = put_s3(bao, f"{vault_prefix}/s3")
    config = write_config([s3_entry("s3", f"{vault_prefix}/s3", [namespace])])
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {
            "server": devenv.apiserver_url,
            "certificate-authority-data": base64.b64encode(
                Path(devenv.ca_cert).read_bytes()).decode()}}],
        "users": [{"name": "u", "user": {"token": devenv.admin_token}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}))
    for path in (config, kubeconfig):
        path.chmod(0o644)  # readable by the image's uid 65532, as a mounted Secret would be
    result = podman.run(image, "once", "-c", "/etc/kserve-vault-sync/config.yaml",
                        "--kubeconfig", "/kube/config", check=False, options=[
                            "--read-only",
                            "-v", f"{config}:/etc/kserve-vault-sync/config.yaml:ro",
                            "-v", f"{kubeconfig}:/kube/config:ro"])
    print(result.stdout, result.stderr)
    assert result.returncode == 0
    assert secret_data(core, namespace, "s3-secret") == {
        "AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret}
    assert listed(core.read_namespaced_service_account("s3-sa", namespace)) == ["s3-secret"]


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503


def test_sbom_lists_our_dependencies(podman: containers.Podman, image: str,
                                     tmp_path: Path) -> None:
    created = podman("create", image).stdout.strip()
    try:
        podman("cp", f"{created}:{SBOM}", tmp_path / "sbom.json")
    finally:
        podman("rm", created)
    sbom = json.loads((tmp_path / "sbom.json").read_text())
    assert sbom["bomFormat"] == "CycloneDX"
    listed = {_canonical(c["name"]): c for c in sbom["components"]}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_canonical(re.split(r"[<>=!~;\[ ]", dep, maxsplit=1)[0])
              for dep in project["dependencies"]}
    assert wanted <= set(listed), wanted - set(listed)
    assert listed["kserve-vault-sync"]["version"] == project["version"]
    assert all(c.get("purl", "").startswith("pkg:pypi/") for name, c in listed.items()
               if name != "kserve-vault-sync")
    # Exactly what the image's venv holds, at the same versions (and no pip or setuptools).
    inventory = podman.run(image, "-c", "import importlib.metadata as m, json; print(json.dumps("
                           "{d.metadata['Name']: d.version for d in m.distributions()}))",
                           options=["--entrypoint", "/opt/kserve-vault-sync/bin/python"]).stdout
    installed = {_canonical(n): v for n, v in json.loads(inventory).items()}
    assert {n: c["version"] for n, c in listed.items()} == installed
    assert "pip" not in installed and "setuptools" not in installed
