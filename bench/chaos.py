"""Chaos soak: two replicas with leader election under every fault at once.

    .venv/bin/python -m bench.chaos [--seconds 600] [--seed 1]

On a dev environment of its own (so it may restart the API server and seal
OpenBao), two `kserve-vault-sync run --leader-elect` replicas sync 6 Vault paths
into 12 targets (S3 Secrets, ServiceAccounts, storage-config keys) in 3
namespaces while a random fault hits every 0.3-2 s: a rotation, a bad value in
Vault, a tampered / deleted Secret, a stripped ServiceAccount entry, a bad
config file swapped in (and the good one back), SIGKILL of the leader (and a
restart), an API-server restart, Vault sealed (and unsealed). At the end:

- every managed value is the latest good one (values lost = targets that are not);
- no seeded value appears in any daemon or server log (leaks);
- from the API server's audit log, no write by a replica that was not the last
  to update the Lease before it (two writers: each replica's requests carry its
  identity in the User-Agent).

Writes bench/RESULTS-chaos.md. Not part of the test suite (it runs for minutes).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hvac
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from devenv import servers

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PATHS, TARGETS, NAMESPACES = 6, 12, 3
LEASE = 4.0  # seconds: failover after a SIGKILL takes about this long


class Replica:
    """One `run --leader-elect` subprocess; restarted with a new identity after a kill."""

    def __init__(self, name: str, config: Path, env: servers.Env, folder: Path) -> None:
        self.name, self.config, self.env, self.folder = name, config, env, folder
        self.starts = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.starts += 1
        log = (self.folder / f"{self.name}-{self.starts}.log").open("wb")
        environ = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
        environ["POD_NAME"] = f"{self.name}-{self.starts}"  # the identity in the User-Agent
        self.proc = subprocess.Popen(
            [str(BIN / "kserve-vault-sync"), "run", "-c", str(self.config), "--kubeconfig",
             self.env.kubeconfig, "--listen", "", "--leader-elect", "--lease-namespace",
             "default", "--lease-duration", str(LEASE)],
            stdout=log, stderr=subprocess.STDOUT, env=environ)
        log.close()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


class Chaos:
    def __init__(self, env: servers.Env, folder: Path, rng: random.Random) -> None:
        self.env, self.folder, self.rng = env, folder, rng
        configuration = k8s.Configuration()
        k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=env.kubeconfig, client_configuration=configuration)
        self.core = k8s.CoreV1Api(k8s.ApiClient(configuration))
        self.coord = k8s.CoordinationV1Api(k8s.ApiClient(configuration))
        self.bao = hvac.Client(url=env.vault_addr, token=env.vault_token)
        self.good: dict[int, tuple[str, str]] = {}
        self.seeded: list[str] = []
        self.faults: Counter[str] = Counter()
        self.namespaces = [f"chaos-{i}" for i in range(NAMESPACES)]
        self.config = folder / "config.yaml"
        self.replicas: list[Replica] = []

    # -- set-up -------------------------------------------------------------

    def fresh(self, prefix: str) -> str:
        value = prefix + secrets.token_urlsafe(24)
        self.seeded.append(value)
        return value

    def rotate(self, i: int) -> None:
        value = (self.fresh("AKIA"), self.fresh(""))
        self.bao.secrets.kv.v2.create_or_update_secret(
            f"chaos/p{i}", secret={"access_key": value[0], "secret_key": value[1]})
        self.good[i] = value

    def good_config(self) -> str:
        creds = [{"name": f"c{t}", "type": "s3",
                  "vault": {"path": f"chaos/p{t % PATHS}",
                            "keys": {"accessKeyId": "access_key",
                                     "secretAccessKey": "secret_key"}},
                  "targets": [{"namespaces": [self.namespaces[t % NAMESPACES]],
                               "secret": f"s{t}", "serviceAccount": f"sa{t}",
                               "storageConfig": {"key": f"k{t}"}}]} for t in range(TARGETS)]
        return json.dumps({"vault": {"address": self.env.vault_addr,
                                     "auth": {"method": "token",
                                              "token": self.env.vault_token}},
                           "sync": {"interval": "1s", "jitter": "20%"},
                           "credentials": creds}, indent=1)

    def set_up(self) -> None:
        for ns in self.namespaces:
            self.core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=ns)))
        for i in range(PATHS):
            self.rotate(i)
        self.write_config(self.good_config().encode())
        self.replicas = [Replica(n, self.config, self.env, self.folder) for n in ("a", "b")]

    def write_config(self, data: bytes) -> None:
        swap = self.config.with_suffix(".new")
        swap.write_bytes(data)
        swap.replace(self.config)

    # -- faults ---------------------------------------------------------------

    def leader(self) -> Replica | None:
        try:
            spec = self.coord.read_namespaced_lease("kserve-vault-sync", "default").spec
            holder = spec.holder_identity if spec is not None else None
        except k8s.ApiException:
            return None
        # The identity is POD_NAME + "_" + pid (syncer.leader.default_identity).
        return next((r for r in self.replicas
                     if (holder or "").startswith(f"{r.name}-{r.starts}_")), None)

    def actions(self) -> dict[str, Callable[[], None]]:
        r = self.rng

        def bad_value() -> None:
            self.bao.secrets.kv.v2.create_or_update_secret(
                f"chaos/p{r.randrange(PATHS)}", secret={"access_key": "AKIA", "secret_key": ""})

        def tamper() -> None:
            t = r.randrange(TARGETS)
            self.core.patch_namespaced_secret(f"s{t}", self.namespaces[t % NAMESPACES], {
                "stringData": {"AWS_SECRET_ACCESS_KEY": "tampered"}})

        def delete() -> None:
            t = r.randrange(TARGETS)
            self.core.delete_namespaced_secret(f"s{t}", self.namespaces[t % NAMESPACES])

        def strip() -> None:
            t = r.randrange(TARGETS)
            self.core.patch_namespaced_service_account(
                f"sa{t}", self.namespaces[t % NAMESPACES],
                [{"op": "replace", "path": "/secrets", "value": []}])

        def bad_config() -> None:
            self.write_config(r.choice([b"vault: {address: \"\xff\"}\n",
                                        b"sync: {interval: !!float soon}\n",
                                        b"a: " + b"[" * 20000 + b"]" * 20000 + b"\n"]))
            time.sleep(r.uniform(0.5, 3))
            self.write_config(self.good_config().encode())

        def kill_leader() -> None:
            leader = self.leader()
            if leader is not None:
                leader.kill()
                time.sleep(r.uniform(0, 2))
                leader.start()

        def restart_apiserver() -> None:
            servers.stop_server(Path(self.env.dir), "kube-apiserver")
            time.sleep(r.uniform(0.5, 3))
            servers.start_server(Path(self.env.dir), "kube-apiserver")

        def seal() -> None:
            self.bao.sys.seal()
            time.sleep(r.uniform(0.5, 4))
            self.bao.sys.submit_unseal_key(unseal_key(self.env))

        return {"rotation": lambda: self.rotate(r.randrange(PATHS)), "bad value": bad_value,
                "tamper": tamper, "delete": delete, "strip entry": strip,
                "bad config": bad_config, "SIGKILL leader": kill_leader,
                "API server restart": restart_apiserver, "Vault sealed": seal}

    def run(self, seconds: float) -> None:
        actions = self.actions()
        weights = {"rotation": 6, "bad value": 3, "tamper": 4, "delete": 3, "strip entry": 3,
                   "bad config": 2, "SIGKILL leader": 2, "API server restart": 1,
                   "Vault sealed": 1}
        names = list(weights)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            name = self.rng.choices(names, [weights[n] for n in names])[0]
            try:
                actions[name]()
                self.faults[name] += 1
            except (k8s.ApiException, hvac.exceptions.VaultError, OSError) as exc:
                # A fault while another fault is in progress (API server down, Vault
                # sealed): skipped, not counted.
                self.faults[f"skipped ({type(exc).__name__})"] += 1
            time.sleep(self.rng.uniform(0.3, 2))
        for i in range(PATHS):  # end on good values everywhere
            self.rotate(i)

    # -- verdict --------------------------------------------------------------

    def lost(self) -> list[str]:
        """Targets whose Secret, storage-config key or ServiceAccount entry is not the
        latest good value."""
        bad = []
        for t in range(TARGETS):
            ns, want = self.namespaces[t % NAMESPACES], self.good[t % PATHS]
            try:
                data = {k: base64.b64decode(v).decode() for k, v in
                        (self.core.read_namespaced_secret(f"s{t}", ns).data or {}).items()}
                shared = self.core.read_namespaced_secret("storage-config", ns).data or {}
                spec = json.loads(base64.b64decode(shared[f"k{t}"]))
                listed = [s.name for s in self.core.read_namespaced_service_account(
                    f"sa{t}", ns).secrets or []]
            except (k8s.ApiException, KeyError):
                bad.append(f"s{t}")
                continue
            if (data != {"AWS_ACCESS_KEY_ID": want[0], "AWS_SECRET_ACCESS_KEY": want[1]}
                    or spec["secret_access_key"] != want[1] or f"s{t}" not in listed):
                bad.append(f"s{t}")
        return bad

    def leaks(self) -> list[str]:
        found = []
        needles = self.seeded + [base64.b64encode(v.encode()).decode() for v in self.seeded]
        for log in [*self.folder.glob("*.log"), *(Path(self.env.dir) / "logs").glob("*.log")]:
            text = log.read_text(errors="replace")
            if log.name == "audit.log":
                continue  # Metadata level: no bodies; scanned below all the same
            found += [log.name for n in needles if n in text]
        audit = Path(self.env.audit_log).read_text(errors="replace")
        found += ["audit.log" for n in needles if n in audit]
        return sorted(set(found))


def unseal_key(env: servers.Env) -> str:
    log = (Path(env.dir) / "logs" / "openbao.log").read_text(errors="replace")
    for line in log.splitlines():
        if "Unseal Key:" in line:
            return line.split("Unseal Key:", 1)[1].strip()
    raise RuntimeError("the dev OpenBao printed no unseal key")


def two_writers(audit_log: Path) -> tuple[int, int]:
    """(writes by our replicas, writes by a replica that did not hold the Lease):
    each write must come after that replica's own last Lease update and before
    anyone else's next one."""
    events = [json.loads(line) for line in audit_log.read_text().splitlines()]
    done = [e for e in events if e.get("stage") == "ResponseComplete"
            and e.get("userAgent", "").startswith("kserve-vault-sync (")
            and 200 <= (e.get("responseStatus") or {}).get("code", 0) < 300]

    def who(e: dict[str, Any]) -> str:
        return str(e["userAgent"]).split("(", 1)[1].rstrip(")")

    lease_updates = sorted((e["stageTimestamp"], who(e)) for e in done
                           if (e.get("objectRef") or {}).get("resource") == "leases"
                           and e["verb"] in ("update", "create"))
    writes = [(e["requestReceivedTimestamp"], who(e)) for e in done
              if (e.get("objectRef") or {}).get("resource") in ("secrets", "serviceaccounts")
              and e["verb"] in ("create", "update", "patch", "delete")]
    bad = 0
    for stamp, writer in writes:
        before = [holder for at, holder in lease_updates if at <= stamp]
        if not before or before[-1] != writer:
            bad += 1
    return len(writes), bad


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS-chaos.md")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="kvs-chaos-"))
    env = servers.up(folder / "env")
    chaos = Chaos(env, folder, random.Random(args.seed))  # noqa: S311 - not crypto
    started = time.monotonic()
    try:
        chaos.set_up()
        chaos.run(args.seconds)
        deadline = time.monotonic() + 60
        lost = chaos.lost()
        while lost and time.monotonic() < deadline:
            time.sleep(1)
            lost = chaos.lost()
        converge = time.monotonic() - started - args.seconds
    finally:
        for replica in chaos.replicas:
            replica.stop()
        servers.down(folder / "env", quiet=True)
    writes, overlapping = two_writers(Path(env.audit_log))
    leaks = chaos.leaks()
    report(args, chaos, lost=lost, leaks=leaks, writes=writes, overlapping=overlapping,
           converge=converge)
    print(args.out.read_text())
    return 0 if not (lost or leaks or overlapping) else 1


def report(args: argparse.Namespace, chaos: Chaos, *, lost: list[str], leaks: list[str],
           writes: int, overlapping: int, converge: float) -> None:
    faults = "\n".join(f"| {name} | {count} |" for name, count in sorted(chaos.faults.items()))
    starts = sum(r.starts for r in chaos.replicas)
    args.out.write_text(f"""# Chaos soak

Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores with
`.venv/bin/python -m bench.chaos --seconds {args.seconds:.0f} --seed {args.seed}`:
two replicas (`run --leader-elect`, Lease {LEASE:.0f} s, interval 1 s), {PATHS} Vault
paths, {TARGETS} targets (Secret + ServiceAccount entry + storage-config key) in
{NAMESPACES} namespaces, one random fault every 0.3-2 s.

| fault | count |
|---|---|
{faults}

| result | value |
|---|---|
| duration | {args.seconds:.0f} s of faults, then converged in {converge:.1f} s |
| replica processes started (incl. restarts after SIGKILL) | {starts} |
| writes by the replicas (audit log) | {writes} |
| writes by a replica not holding the Lease (two writers) | {overlapping} |
| targets not at the latest good value at the end (values lost) | {len(lost)} {lost or ''} |
| logs holding a seeded value (leaks) | {len(leaks)} {leaks or ''} |
""")


if __name__ == "__main__":
    sys.exit(main())
