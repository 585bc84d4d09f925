"""The README's first command works, twice: `make demo` in its non-interactive
form, a second run in the same folder, Ctrl-C, and a run after a killed one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from devenv import servers
from tests.processes import stop

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
READY = "Press Ctrl-C to stop."


def _env(folder: Path, **extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "KUBE"))},
            "DEMO_DIR": str(folder), **extra}


def _once(folder: Path) -> str:
    result = subprocess.run([sys.executable, "-m", "scripts.demo"], cwd=ROOT,
                            env=_env(folder, DEMO_ONCE="1"), capture_output=True, text=True,
                            timeout=300, check=False)
    out = result.stdout + result.stderr
    print(out)
    assert result.returncode == 0, out
    assert "Traceback" not in out
    return out


def _alive(processes: dict[str, dict[str, object]]) -> list[str]:
    """Names of recorded processes whose pid still runs the recorded program."""
    alive = []
    for name, proc in processes.items():
        try:
            argv0 = Path(f"/proc/{proc['pid']}/cmdline").read_bytes().split(b"\0")[0].decode()
        except OSError:
            continue
        if argv0 == proc["argv0"]:
            alive.append(name)
    return alive


def _start_daemon_demo(folder: Path, log: Path) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """The interactive demo, until it says it is ready; returns it and its state.json."""
    with log.open("wb") as out:
        demo = subprocess.Popen([sys.executable, "-m", "scripts.demo"], cwd=ROOT,
                                env=_env(folder), stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while READY not in log.read_text(errors="replace"):
        if demo.poll() is not None or time.monotonic() > deadline:
            stop(demo)
            pytest.fail(f"the demo did not get ready:\n{log.read_text(errors='replace')}")
        time.sleep(0.5)
    state = json.loads((folder / servers.STATE_FILE).read_text())
    if set(_alive(state["processes"])) != {"etcd", "kube-apiserver", "openbao",
                                           "kserve-vault-sync"}:
        demo.send_signal(signal.SIGINT)
        stop(demo, timeout=60)
        pytest.fail(f"the syncer and the servers should all be recorded and running: {state}")
    return demo, state


def test_demo_once_twice_in_one_folder(tmp_path: Path, devenv: servers.Env) -> None:
    """DEMO_ONCE=1 brings up its own environment, syncs two namespaces, shows the
    objects and stops everything it started; a second run in the same folder
    (old etcd data, namespaces that existed) does it all again."""
    folder = tmp_path / "demo"
    for _ in range(2):
        out = _once(folder)
        for ns in ("team-a", "team-b"):
            for name in ("s3-secret", "storage-config", "s3-sa", "hfserviceacc"):
                assert any(ns in line and name in line for line in out.splitlines()), (ns, name)
        with pytest.raises(servers.DevEnvError):  # the demo's environment is down again
            servers.load(folder)


def test_ctrl_c_leaves_nothing_running(tmp_path: Path, devenv: servers.Env) -> None:
    folder, log = tmp_path / "demo", tmp_path / "demo.log"
    demo, state = _start_daemon_demo(folder, log)
    try:
        demo.send_signal(signal.SIGINT)
        start = time.monotonic()
        # A bound, not a timing check: `down` gives each of the four processes up to
        # 15 s to stop, and a loaded machine can make kube-apiserver use all of it.
        code = demo.wait(timeout=300)
        print(f"the demo stopped {time.monotonic() - start:.1f}s after SIGINT")
    finally:
        stop(demo)
        servers.down(folder, quiet=True)
    out = log.read_text(errors="replace")
    print(out)
    assert code == 130, out
    assert "Traceback" not in out
    assert _alive(state["processes"]) == []


def test_a_killed_demo_is_cleaned_up_by_the_next_run(tmp_path: Path,
                                                     devenv: servers.Env) -> None:
    folder, log = tmp_path / "demo", tmp_path / "demo.log"
    demo, state = _start_daemon_demo(folder, log)
    try:
        demo.kill()  # no clean-up at all: the servers and the syncer stay up
        demo.wait(timeout=30)
        assert len(_alive(state["processes"])) == 4
        _once(folder)
    finally:
        servers.down(folder, quiet=True)
    assert _alive(state["processes"]) == []


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
