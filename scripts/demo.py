"""The demo (``make demo``): the syncer on a local OpenBao + kube-apiserver.

Brings up the dev environment in ``.dev-env/demo``, writes the seed pattern's
sample credentials (AWS's and Hugging Face's documented examples) into
OpenBao, creates namespaces team-a and team-b, runs the syncer against them
and shows what it made. ``DEMO_ONCE=1`` runs one cycle and exits (CI does);
otherwise the daemon runs until Ctrl-C, and everything is stopped after.

``KVS_DEMO_KSERVE=1`` also runs KServe (scripts/dev-env up --kserve) and shows
an InferenceService's predictor pod carrying the synced credentials
(scripts/demo_kserve.py).

Re-runnable: each run starts from an empty folder (a previous run's servers,
if still up, are stopped first), and the syncer is recorded in the folder's
state.json with the servers, so whatever ends the demo - Ctrl-C, SIGTERM, an
error - ``down`` stops all of it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import hvac
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from devenv import servers
from scripts import demo_kserve

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SAMPLE = {  # tests/fixtures/seed-pattern.yaml: public example values, not real keys
    "kserve/team-a/s3": {"access_key": "AKIAIOSFODNN7EXAMPLE",
                         "secret_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
    "kserve/shared/hf": {"token": "hf_aBcDeFgHiJkLmNoPqRsTuVwXyZ"},
}


def say(msg: str) -> None:
    print(f"\n==> {msg}", flush=True)


def main() -> int:
    folder = Path(os.environ.get("DEMO_DIR", ROOT / ".dev-env" / "demo")).resolve()
    once = os.environ.get("DEMO_ONCE") == "1"
    with_kserve = os.environ.get("KVS_DEMO_KSERVE") == "1"
    _fresh_folder(folder)
    # Ctrl-C and SIGTERM (a closed terminal, `kill`) end the demo through the finally
    # below. Set both explicitly: a demo started from a background job inherits
    # SIGINT ignored, and Python then installs no KeyboardInterrupt handler.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        say("starting OpenBao, etcd and kube-apiserver on loopback"
            + (", kube-controller-manager and KServe" if with_kserve else ""))
        env = servers.up(folder, kserve=with_kserve)
        return _demo(env, folder, once, with_kserve)
    except KeyboardInterrupt:
        return 130
    finally:
        # A second Ctrl-C must not cut the clean-up short and leave servers behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        say("stopping the syncer and the dev environment")
        servers.down(folder, quiet=True)


def _fresh_folder(folder: Path) -> None:
    """Stop what a previous run left up, then start from an empty folder: the
    old etcd data would bring back the old namespaces (a 409 on create)."""
    if (folder / servers.STATE_FILE).exists():
        say(f"stopping the previous demo environment in {folder}")
        servers.down(folder, quiet=True)
    if not folder.exists():
        return
    if any(folder.iterdir()) and not (folder / servers.STOPPED_FILE).exists():
        raise SystemExit(f"{folder} is not empty and not a demo environment; "
                         "set DEMO_DIR to an empty or new folder")
    shutil.rmtree(folder)


def _demo(env: servers.Env, folder: Path, once: bool, with_kserve: bool) -> int:
    bao = hvac.Client(url=env.vault_addr, token=env.vault_token)
    for path, values in SAMPLE.items():
        bao.secrets.kv.v2.create_or_update_secret(path, secret=values)
    say(f"wrote sample credentials to OpenBao: {', '.join('secret/' + p for p in SAMPLE)}")

    configuration = k8s.Configuration()
    k8s_config.load_kube_config(config_file=env.kubeconfig, client_configuration=configuration)
    core = k8s.CoreV1Api(k8s.ApiClient(configuration))
    for ns in ("team-a", "team-b"):
        try:
            core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=ns)))
        except k8s.ApiException as exc:
            if exc.status != 409:  # already there is fine
                raise
    say("created namespaces team-a and team-b")

    config = yaml.safe_load((ROOT / "config" / "example.yaml").read_text())
    config["vault"]["auth"] = {"method": "token"}  # the token comes from VAULT_TOKEN
    config["sync"]["interval"] = "10s"
    config_path = folder / "config.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    child_env = {**os.environ, "VAULT_ADDR": env.vault_addr, "VAULT_TOKEN": env.vault_token,
                 "KUBECONFIG": env.kubeconfig}
    syncer = [str(BIN / "kserve-vault-sync")]
    say(f"config: {config_path} (from config/example.yaml)")

    if once:
        say("kserve-vault-sync once")
        code = subprocess.call([*syncer, "once", "-c", str(config_path)], env=child_env)
        _show(env)
        if with_kserve:
            demo_kserve.show(core.api_client, BIN / "kubectl", env.kubeconfig)
        return code

    port = servers.free_port()
    say(f"kserve-vault-sync run (metrics and health on http://127.0.0.1:{port}/metrics)")
    # Its own session: Ctrl-C reaches the demo only, which stops the syncer
    # (SIGTERM, a clean shutdown) through `down`, where it is recorded.
    # `python -m syncer`, not the console script: `down` recognises a process by its
    # argv[0], and a script's is the interpreter named in its #! line.
    proc = subprocess.Popen([sys.executable, "-m", "syncer", "run", "-c", str(config_path),
                             "--listen", f"127.0.0.1:{port}"], env=child_env,
                            start_new_session=True)
    servers.adopt(folder, "kserve-vault-sync", proc)
    time.sleep(3)
    _show(env)
    if with_kserve:
        demo_kserve.show(core.api_client, BIN / "kubectl", env.kubeconfig)
    print(f"""
Try a rotation (the next cycle, within ~10s, updates every namespace in place):
  VAULT_ADDR={env.vault_addr} VAULT_TOKEN={env.vault_token} \\
    {BIN / 'bao'} kv put secret/kserve/team-a/s3 access_key=AKIANEWKEYEXAMPLE secret_key=NEW-SECRET
Inspect:  KUBECONFIG={env.kubeconfig} {BIN / 'kubectl'} get secret -n team-a s3-secret -o yaml
Status:   KUBECONFIG={env.kubeconfig} VAULT_ADDR={env.vault_addr} VAULT_TOKEN={env.vault_token} \\
    {BIN / 'kserve-vault-sync'} status -c {config_path}
Metrics:  curl -s http://127.0.0.1:{port}/metrics | grep kserve_vault_sync
Press Ctrl-C to stop.""", flush=True)
    return proc.wait()  # Ctrl-C raises KeyboardInterrupt here; main() stops everything


def _show(env: servers.Env) -> None:
    say("what the syncer made (label app.kubernetes.io/managed-by=kserve-vault-sync)")
    subprocess.call([str(BIN / "kubectl"), "--kubeconfig", env.kubeconfig, "get",
                     "secrets,serviceaccounts", "-A", "-l",
                     "app.kubernetes.io/managed-by=kserve-vault-sync",
                     "-o", "custom-columns=NAMESPACE:.metadata.namespace,KIND:.kind,"
                     "NAME:.metadata.name,SOURCE:.metadata.annotations.kserve-vault-sync/source,"
                     "KEYS:.metadata.annotations.kserve-vault-sync/managed-keys,"
                     "SECRETS:.secrets[*].name"])


if __name__ == "__main__":
    sys.exit(main())
