"""Start and stop the real local servers: etcd, kube-apiserver and a Vault server
(OpenBao, or HashiCorp Vault with ``vault="hashicorp"`` / ``KVS_VAULT=hashicorp``;
``add_vault`` starts the other kind beside it, see ``devenv.vaultserver``).

Every server binds a free loopback port and runs in its own session, so it
outlives the ``up`` command; its pid and command line are written to
``<dir>/state.json`` and ``down`` stops exactly those processes (checking the
command line first, so a recycled pid is never signalled).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import secrets
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from devenv import binaries, pki, vaultserver
from devenv.progress import log

STATE_FILE = "state.json"
STOPPED_FILE = "state.stopped.json"  # what `down` leaves behind
READY_TIMEOUT = float(os.environ.get("KVS_DEVENV_READY_TIMEOUT", "90"))

AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  # Every request on the kinds the syncer touches, so tests and the benchmark
  # can count writes (and reads) from the API server's own record.
  - level: Metadata
    resources:
      - group: ""
        resources: ["secrets", "serviceaccounts", "namespaces"]
      - group: "coordination.k8s.io"
        resources: ["leases"]
      - group: "apps"
        resources: ["deployments"]
  # The Events the syncer posts (client-go-like aggregation and rate limits): the
  # benchmark counts their creates and patches at scale. Request counts in tests
  # leave them out (tests/helpers.py: AuditLog.writes).
  - level: Metadata
    resources:
      - group: ""
        resources: ["events"]
      - group: "events.k8s.io"
        resources: ["events"]
  - level: None
"""


class DevEnvError(RuntimeError):
    """The dev environment could not be brought up or down."""


@dataclass
class Env:
    """What ``up`` started; persisted as state.json."""

    dir: str
    kubeconfig: str
    apiserver_url: str
    admin_token: str
    ca_cert: str
    audit_log: str
    etcd_url: str
    vault_addr: str
    vault_token: str
    k8s_version: str
    processes: dict[str, dict[str, object]] = field(default_factory=dict)
    vault: str = vaultserver.OPENBAO  # which server vault_addr is
    vaults: dict[str, dict[str, str]] = field(default_factory=dict)  # every running kind

    def vault_server(self, kind: str | None = None) -> vaultserver.DevVault:
        """The dev server of ``kind`` (default: the one at vault_addr)."""
        kind = kind or self.vault
        if kind not in self.vaults:
            raise DevEnvError(f"no {kind} server runs in {self.dir} (servers.add_vault)")
        return vaultserver.DevVault(**self.vaults[kind])

    def exports(self) -> str:
        return "\n".join([
            f"export KUBECONFIG={self.kubeconfig}",
            f"export VAULT_ADDR={self.vault_addr}",
            f"export VAULT_TOKEN={self.vault_token}",
            f"export KVS_AUDIT_LOG={self.audit_log}",
            f"export KVS_VAULT={self.vault}",
        ])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def spawn(name: str, argv: list[str], folder: Path, env: dict[str, str] | None = None
           ) -> subprocess.Popen[bytes]:
    log_path = folder / "logs" / f"{name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, env=env,
                                cwd=folder)


def wait_ready(name: str, proc: subprocess.Popen[bytes], check: object, folder: Path) -> None:
    """Poll ``check()`` until it returns True; bounded by READY_TIMEOUT."""
    deadline = time.monotonic() + READY_TIMEOUT
    last_error = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DevEnvError(f"{name} exited with code {proc.returncode} during start-up; "
                              f"last lines of its log:\n{_tail(folder / 'logs' / f'{name}.log')}")
        try:
            if check():  # type: ignore[operator]
                return
        except (OSError, urllib.error.URLError, ValueError) as exc:
            last_error = str(exc)
        time.sleep(0.2)
    raise DevEnvError(f"{name} was not ready after {READY_TIMEOUT:.0f}s ({last_error}); "
                      f"last lines of its log:\n{_tail(folder / 'logs' / f'{name}.log')}")


def http_ok(url: str, token: str | None = None, ca: Path | None = None) -> bool:
    req = urllib.request.Request(url)  # noqa: S310 - loopback only
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    ctx = ssl.create_default_context(cafile=str(ca)) if ca else None
    # Only loopback http(s) URLs built by this module reach here.
    with urllib.request.urlopen(  # noqa: S310
            req, timeout=2, context=ctx) as resp:
        return bool(resp.status == 200)


def record(state: Env, name: str, proc: subprocess.Popen[bytes]) -> None:
    argv = [str(a) for a in proc.args]  # type: ignore[union-attr]
    state.processes[name] = {"pid": proc.pid, "argv0": argv[0], "argv": argv}
    _save(state)


def _stop_pid(pid: int, argv0: str) -> None:
    """SIGTERM, wait up to 15 s, then SIGKILL; only if the pid still runs ``argv0``."""
    if not _alive_and_ours(pid, argv0):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and _alive_and_ours(pid, argv0):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.1)
    if _alive_and_ours(pid, argv0):
        os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def adopt(folder: Path, name: str, proc: subprocess.Popen[bytes]) -> None:
    """Record a process the caller started (the demo's syncer) so that ``down``
    stops it with the servers, even from a later run after this one was killed."""
    record(load(folder.resolve()), name, proc)


def stop_server(folder: Path, name: str) -> None:
    """Stop one server (fault injection: the API server goes away)."""
    state = load(folder.resolve())
    proc = state.processes[name]
    _stop_pid(int(proc["pid"]), str(proc["argv0"]))  # type: ignore[call-overload]


def start_server(folder: Path, name: str) -> None:
    """Start a stopped server again with its recorded command line; wait until ready."""
    folder = folder.resolve()
    state = load(folder)
    argv = [str(a) for a in state.processes[name]["argv"]]  # type: ignore[attr-defined]
    vaults = {v.process: v for v in map(state.vault_server, state.vaults)}
    env = vaultserver.clean_env() if name in vaults else None
    proc = spawn(name, argv, folder, env=env)
    record(state, name, proc)
    checks = {
        "etcd": lambda: http_ok(f"{state.etcd_url}/health"),
        "kube-apiserver": lambda: http_ok(f"{state.apiserver_url}/readyz", state.admin_token,
                                           Path(state.ca_cert)),
    }
    for process, server in vaults.items():
        checks[process] = functools.partial(http_ok, f"{server.addr}/v1/sys/health")
    wait_ready(name, proc, checks[name], folder)


def _save(state: Env) -> None:
    path = Path(state.dir) / STATE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state), indent=2))
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def load(folder: Path) -> Env:
    path = folder / STATE_FILE
    if not path.exists():
        raise DevEnvError(f"{folder} has no running dev environment ({STATE_FILE} missing)")
    return Env(**json.loads(path.read_text()))


def up(folder: Path, bins: binaries.Binaries | None = None, vault: str | None = None, *,
       kserve: bool = False) -> Env:
    """Start etcd, kube-apiserver and a Vault server (``vault``: openbao or hashicorp,
    default ``$KVS_VAULT`` or openbao); return their coordinates.

    ``kserve=True`` also starts kube-controller-manager and KServe's manager
    (devenv/kserve_servers.py)."""
    kind = vaultserver.check_kind(vault or vaultserver.default_kind())
    folder = folder.resolve()
    if (folder / STATE_FILE).exists():
        raise DevEnvError(f"{folder} is already used by a dev environment; "
                          f"run `scripts/dev-env down --dir {folder}` first or pick another dir")
    folder.mkdir(parents=True, exist_ok=True)
    bins = bins or binaries.ensure()
    vaultserver.binary(kind)  # a first HashiCorp Vault build, before any server starts
    log(f"binaries from {bins.source}")
    certs = pki.make_pki(folder / "pki")
    admin_token = secrets.token_hex(16)
    vault_token = "dev-" + secrets.token_hex(12)
    tokens = folder / "tokens.csv"
    tokens.write_text(f'{admin_token},admin,admin-uid,"system:masters"\n')
    os.chmod(tokens, 0o600)
    (folder / "audit-policy.yaml").write_text(AUDIT_POLICY)
    etcd_port, peer_port, api_port, bao_port = (free_port() for _ in range(4))
    state = Env(
        dir=str(folder), kubeconfig=str(folder / "kubeconfig"),
        apiserver_url=f"https://127.0.0.1:{api_port}", admin_token=admin_token,
        ca_cert=str(certs["ca.crt"]), audit_log=str(folder / "logs" / "audit.log"),
        etcd_url=f"http://127.0.0.1:{etcd_port}", vault_addr=f"http://127.0.0.1:{bao_port}",
        vault_token=vault_token, k8s_version=binaries.K8S_VERSION, vault=kind,
    )
    _save(state)
    try:
        _start_all(state, bins, certs, folder, peer_port)
    except BaseException:
        down(folder, quiet=True)
        raise
    _write_kubeconfig(state)
    if kserve:
        from devenv import kserve_servers  # it imports this module
        try:
            kserve_servers.start(state, folder, bins.kubectl)
        except BaseException:
            down(folder, quiet=True)
            raise
    return state


def _start_all(state: Env, bins: binaries.Binaries, certs: dict[str, Path], folder: Path,
               peer_port: int) -> None:
    t0 = time.monotonic()
    peer = f"http://127.0.0.1:{peer_port}"
    etcd = spawn("etcd", [
        str(bins.etcd), "--name", "default", "--data-dir", str(folder / "etcd-data"),
        "--listen-client-urls", state.etcd_url, "--advertise-client-urls", state.etcd_url,
        "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
        "--initial-cluster", f"default={peer}", "--unsafe-no-fsync", "--log-level", "warn",
    ], folder)
    record(state, "etcd", etcd)
    wait_ready("etcd", etcd, lambda: http_ok(f"{state.etcd_url}/health"), folder)
    log(f"etcd ready on {state.etcd_url} ({time.monotonic() - t0:.1f}s)")

    api_port = state.apiserver_url.rsplit(":", 1)[1]
    api = spawn("kube-apiserver", [
        str(bins.kube_apiserver),
        f"--etcd-servers={state.etcd_url}",
        "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
        f"--secure-port={api_port}",
        f"--tls-cert-file={certs['apiserver.crt']}",
        f"--tls-private-key-file={certs['apiserver.key']}",
        f"--cert-dir={folder / 'pki'}",
        "--authorization-mode=RBAC",
        f"--token-auth-file={folder / 'tokens.csv'}",
        f"--service-account-issuer={state.apiserver_url}",
        f"--service-account-key-file={certs['sa.pub']}",
        f"--service-account-signing-key-file={certs['sa.key']}",
        "--service-cluster-ip-range=10.0.0.0/24",
        "--allow-privileged=true",
        f"--audit-policy-file={folder / 'audit-policy.yaml'}",
        f"--audit-log-path={state.audit_log}",
        "--audit-log-maxsize=0",
        "--enable-priority-and-fairness=false",
        "--profiling=false",
    ], folder)
    record(state, "kube-apiserver", api)
    wait_ready("kube-apiserver", api,
                lambda: http_ok(f"{state.apiserver_url}/readyz", state.admin_token,
                                 Path(state.ca_cert)), folder)
    log(f"kube-apiserver ready on {state.apiserver_url} ({time.monotonic() - t0:.1f}s)")

    _start_vault(state, state.vault, int(state.vault_addr.rsplit(":", 1)[1]))
    log(f"{state.vault} ready on {state.vault_addr} ({time.monotonic() - t0:.1f}s)")


def _start_vault(state: Env, kind: str, port: int) -> vaultserver.DevVault:
    folder = Path(state.dir)
    certs = {name: folder / "pki" / name for name in ("ca.crt", "vault.crt", "vault.key")}
    launch = vaultserver.launch(kind, folder, port=port, tls_port=free_port(),
                                cluster_port=free_port(), token=state.vault_token, certs=certs)
    proc = spawn(launch.name, launch.argv, folder, env=launch.env)
    record(state, launch.name, proc)
    wait_ready(launch.name, proc, lambda: http_ok(f"{launch.server.addr}/v1/sys/health"),
                folder)
    state.vaults[kind] = asdict(launch.server)
    _save(state)
    return launch.server


def add_vault(folder: Path, kind: str) -> vaultserver.DevVault:
    """Start a dev server of ``kind`` beside a running dev environment (same root
    token); ``down`` stops it with the rest. Returns the running one if there is one."""
    state = load(folder.resolve())
    if kind in state.vaults:
        return state.vault_server(kind)
    t0 = time.monotonic()
    server = _start_vault(state, vaultserver.check_kind(kind), free_port())
    log(f"{kind} ready on {server.addr} ({time.monotonic() - t0:.1f}s)")
    return server


def _write_kubeconfig(state: Env) -> None:
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "kvs-dev",
        "clusters": [{"name": "kvs-dev", "cluster": {
            "server": state.apiserver_url, "certificate-authority": state.ca_cert}}],
        "users": [{"name": "admin", "user": {"token": state.admin_token}}],
        "contexts": [{"name": "kvs-dev", "context": {"cluster": "kvs-dev", "user": "admin"}}],
    }
    path = Path(state.kubeconfig)
    path.write_text(json.dumps(config, indent=2))  # JSON is valid YAML for kubeconfig readers
    os.chmod(path, 0o600)


def _alive_and_ours(pid: int, argv0: str) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    except OSError:
        return False
    return cmdline == argv0


def down(folder: Path, quiet: bool = False) -> list[int]:
    """Stop the processes recorded in state.json (newest first); return their pids."""
    folder = folder.resolve()
    path = folder / STATE_FILE
    if not path.exists():
        if quiet:
            return []
        raise DevEnvError(f"{folder} has no dev environment to stop ({STATE_FILE} missing)")
    state = Env(**json.loads(path.read_text()))
    stopped: list[int] = []
    for name, proc in reversed(list(state.processes.items())):
        pid, argv0 = int(proc["pid"]), str(proc["argv0"])  # type: ignore[call-overload]
        if not _alive_and_ours(pid, argv0):
            continue
        _stop_pid(pid, argv0)
        stopped.append(pid)
        if not quiet:
            log(f"stopped {name} (pid {pid})")
    path.rename(folder / STOPPED_FILE)
    return stopped
