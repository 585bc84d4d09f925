"""Keys from Vault's AWS secrets engine, measured on both real servers:

    .venv/bin/python -m bench.vault_rotation [--namespaces 50] [--rotations 4]
        [--lease-seconds 600] [--kill-every 150] [--login-seconds 120]

1. Static role rotation: Vault rotates a static role's key (rotation_period
   60 s, Vault's minimum; it checks once a minute, so a rotation every 60-120 s:
   few samples). A daemon per server (interval 5 s) syncs it to every one of
   the namespaces. Latency = the new key first seen in a namespace's Secret (a
   watch) - first seen in Vault (polled every 0.1 s): bench/vault_static.py.
2. Leases: a daemon per server holds two dynamic credentials (25 namespaces
   each) with 9 s leases (max 24 s), overlap 2 s, revokeAfter 1 s, interval 1 s,
   SIGKILLed and restarted every --kill-every seconds. Vault's lease count per
   credential is sampled every 0.25 s; at the end, leases in Vault are compared
   with the lease store (orphans) and with moto's IAM users.
3. Logins per hour per auth method (bench/vault_logins.py).

Parts 1 and 2 run at the same time. Writes bench/RESULTS-vault.md.
"""

from __future__ import annotations

import argparse
import base64
import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import hvac
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from bench import vault_logins, vaultreport
from bench.vault_static import RotationClock
from bench.vaultbench import Syncer, lease_ids, write_config
from devenv import servers, vaultbuild, vaultserver
from syncer.leasestore import store_name
from tests.awsmoto import VaultMoto
from tests.vaultsetup import (
    aws_iam_user_role,
    aws_static_role,
    enable_aws_engine,
    shipped_iam_policy,
)

ROOT = Path(__file__).resolve().parents[1]


def _entry(name: str, namespaces: list[str], secret: str, moto: VaultMoto,
           **source: Any) -> dict[str, Any]:
    return {"name": name, "type": "s3", "vault": {"engine": "aws", "mount": "aws", **source},
            "s3": {"endpoint": moto.url, "region": "us-east-1"},
            "targets": [{"namespaces": namespaces, "secret": secret}]}


def _stored(core: k8s.CoreV1Api, namespace: str, instance: str) -> set[str]:
    """Lease IDs (without their prefix) the lease store holds, current and retiring."""
    try:
        data = core.read_namespaced_secret(store_name(instance), namespace).data or {}
    except k8s.ApiException:
        return set()
    out: set[str] = set()
    for raw in data.values():
        record = json.loads(base64.b64decode(raw))
        ids = [record["current"]["leaseId"]] if record.get("current") else []
        ids += [r["leaseId"] for r in record["retiring"]]
        out |= {i.rsplit("/", 1)[1] for i in ids}
    return out


def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    vaultbuild.ensure_aws_plugin()  # OpenBao's AWS engine, before its server starts
    folder = tmp / "env"
    env = servers.up(folder)
    daemons: list[Syncer] = []
    try:
        configuration = k8s.Configuration()
        k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=env.kubeconfig,
                                    client_configuration=configuration)
        core = k8s.CoreV1Api(k8s.ApiClient(configuration))
        names = [f"bench-{i:03d}" for i in range(args.namespaces)]
        for ns in [*names, "bench-home"]:
            core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=ns)))
        vaults = {kind: servers.add_vault(folder, kind) for kind in vaultserver.KINDS}
        clients = {k: hvac.Client(url=v.addr, token=v.token) for k, v in vaults.items()}
        with VaultMoto() as moto:
            static: dict[str, Syncer] = {}
            dynamic: dict[str, Syncer] = {}
            first_keys: dict[str, str] = {}
            half = len(names) // 2
            for kind, server in vaults.items():
                bao = clients[kind]
                enable_aws_engine(bao, server, "aws", moto, lease="9s", max_lease="24s")
                for role in ("reader-a", "reader-b"):
                    aws_iam_user_role(bao, "aws", role, policy=shipped_iam_policy())
                moto.create_user(f"static-{kind}", shipped_iam_policy())
                aws_static_role(bao, "aws", "models", username=f"static-{kind}",
                                rotation_period="60s")
                first_keys[kind] = bao.read("aws/static-creds/models")["data"]["access_key"]
                config = write_config(tmp / f"static-{kind}.json", server, [
                    _entry("models", names, f"s3-static-{kind}", moto, staticRole="models")],
                    interval="5s", instance=f"static-{kind}")
                static[kind] = Syncer(env, config, tmp / f"static-{kind}")
                lease = {"overlap": "2s", "revokeAfter": "1s"}
                config = write_config(tmp / f"dynamic-{kind}.json", server, [
                    _entry("a", names[:half], f"s3-dyn-{kind}", moto, role="reader-a", **lease),
                    _entry("b", names[half:], f"s3-dyn-{kind}", moto, role="reader-b", **lease)],
                    interval="1s", instance=f"dyn-{kind}")
                dynamic[kind] = Syncer(env, config, tmp / f"dynamic-{kind}",
                                       "--state-namespace", "bench-home")
            daemons += [*static.values(), *dynamic.values()]
            result = _observe(args, core, clients, dynamic=dynamic, first=first_keys,
                              names=names)
            for daemon in dynamic.values():
                daemon.stop()  # SIGTERM: a clean stop leaves the lease for the next start
            result["found"] = {k: d.events("lease_found") for k, d in dynamic.items()}
            result["issued_events"] = {k: d.events("lease_issued") for k, d in dynamic.items()}
            result["revoked"] = {k: d.events("lease_revoked") for k, d in dynamic.items()}
            orphans: dict[str, int] = {}
            for kind, bao in clients.items():
                live = {i for role in ("reader-a", "reader-b")
                        for i in lease_ids(bao, f"aws/creds/{role}")}
                orphans[kind] = len(live - _stored(core, "bench-home", f"dyn-{kind}"))
                result["final_leases"][kind] = len(live)
            result["orphans"] = orphans
            result["iam_users"] = len([u for u in moto.users()
                                       if u.startswith("vault-") and u != moto.user])
        result["logins"] = vault_logins.measure(env, vaults, core=core, namespace="bench-home",
                                                folder=tmp / "logins",
                                                seconds=args.login_seconds)
        result["k8s_version"] = env.k8s_version
        return result
    finally:
        for daemon in daemons:
            daemon.stop()
        servers.down(folder, quiet=True)


def _observe(args: argparse.Namespace, core: k8s.CoreV1Api, clients: dict[str, hvac.Client],
             *, dynamic: dict[str, Syncer], first: dict[str, str], names: list[str]
             ) -> dict[str, Any]:
    clock = RotationClock(core, clients, first).start()
    samples: dict[tuple[str, str], list[int]] = defaultdict(list)
    leases_seen: dict[tuple[str, str], set[str]] = defaultdict(set)
    windows: dict[tuple[str, str], list[float]] = defaultdict(list)  # time with two leases
    two_since: dict[tuple[str, str], float] = {}
    kills, last_kill = 0, time.monotonic()
    started = time.monotonic()
    limit = max(args.lease_seconds, 60) * 2
    try:
        while True:
            now = time.monotonic()
            if now - started >= args.lease_seconds and (
                    clock.done(len(names), args.rotations) or now - started >= limit):
                break
            for kind, bao in clients.items():
                for cred, role in (("a", "reader-a"), ("b", "reader-b")):
                    live = lease_ids(bao, f"aws/creds/{role}")
                    key = (kind, cred)
                    if not live and not leases_seen[key]:
                        continue  # not issued yet: the daemon is starting
                    samples[key].append(len(live))
                    leases_seen[key] |= set(live)
                    if len(live) >= 2:
                        two_since.setdefault(key, now)
                    elif key in two_since:
                        windows[key].append(now - two_since.pop(key))
            if now - last_kill >= args.kill_every:
                for daemon in dynamic.values():
                    daemon.kill_and_restart()
                kills, last_kill = kills + 1, now
                print(f"SIGKILL and restart #{kills}", flush=True)
            time.sleep(0.25)
    finally:
        clock.stop()
    per_ns, all_ns = clock.latencies(len(names))
    return {"per_ns": per_ns, "all_ns": all_ns, "samples": dict(samples),
            "issued": {k: len(v) for k, v in leases_seen.items()}, "windows": dict(windows),
            "kills": kills, "seconds": time.monotonic() - started, "final_leases": {}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--namespaces", type=int, default=50)
    parser.add_argument("--rotations", type=int, default=4, help="per server, at least")
    parser.add_argument("--lease-seconds", type=float, default=600)
    parser.add_argument("--kill-every", type=float, default=150)
    parser.add_argument("--login-seconds", type=float, default=120)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS-vault.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kvs-vaultbench-") as tmp:
        result = run(args, Path(tmp))
    args.out.write_text(vaultreport.render(args, result))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
