"""The README's first command works: `make demo` in its non-interactive form."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from devenv import servers

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_demo_once(tmp_path: Path, devenv: servers.Env) -> None:
    """DEMO_ONCE=1 brings up its own environment, syncs two namespaces, shows the
    objects and stops everything it started."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "KUBE"))},
           "DEMO_ONCE": "1", "DEMO_DIR": str(tmp_path / "demo")}
    result = subprocess.run([sys.executable, "-m", "scripts.demo"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    out = result.stdout + result.stderr
    print(out)
    assert result.returncode == 0, out
    for ns in ("team-a", "team-b"):
        for name in ("s3-secret", "storage-config", "s3-sa", "hfserviceacc"):
            assert any(ns in line and name in line for line in out.splitlines()), (ns, name)
    state = servers.load  # the demo's environment is down again
    with pytest.raises(servers.DevEnvError):
        state(tmp_path / "demo")


def test_demo_once_with_kserve(tmp_path: Path, devenv: servers.Env) -> None:
    """KVS_DEMO_KSERVE=1: the predictor pods KServe makes carry our Secrets, shown redacted."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "KUBE"))},
           "DEMO_ONCE": "1", "KVS_DEMO_KSERVE": "1", "DEMO_DIR": str(tmp_path / "demo")}
    result = subprocess.run([sys.executable, "-m", "scripts.demo"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600, check=False)
    out = result.stdout + result.stderr
    print(out)
    assert result.returncode == 0, out
    assert "AWS_SECRET_ACCESS_KEY <- Secret s3-secret[AWS_SECRET_ACCESS_KEY] (synced from " \
           "secret/kserve/team-a/s3@1) = <redacted sha256:" in out
    assert 'STORAGE_CONFIG <- Secret storage-config[team-a]' in out
    assert '"secret_access_key": "<redacted sha256:' in out
    with pytest.raises(servers.DevEnvError):
        servers.load(tmp_path / "demo")
