"""What the benchmark takes from the syncer's internals, read-only, in one place.

Everything else in ``bench/`` runs the syncer as a subprocess, as a user would;
this module imports its modules (settings, render, diff, kube, retry, logs)
directly, so when those move, this is the file to fix. It holds:

- the exact request bodies an initial sync sends, for the floors;
- per-request probes of the syncer's client stack (``bench/levers.py`` times
  them) - the pieces a write passes through besides the network;
- the syncer's Vault reader, for timing data against metadata reads (``bench/kvmeta.py``).

The bodies are written as JSON lines, one object per line::

    {"kind": "Secret", "namespace": "ns", "path": "/api/v1/...?fieldManager=...",
     "body": {...}}

``body`` is byte for byte what the syncer's client puts on the wire (the
kubernetes client serialises with ``json.dumps`` and default separators), so the
Go floor can post the raw bytes of that field without re-rendering anything.
The file holds secret values: it is written with mode 0600 and never printed.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import hvac
import structlog

from bench import layout as lay
from syncer import diff, kube, logs, render, retry, settings
from syncer.kube import FIELD_MANAGER
from syncer.model import SELECTOR, Namespace, VaultData, VaultFailure
from syncer.secretvalue import SecretValue, encode

__all__ = ["SELECTOR", "load", "probes", "render_creates", "write"]

PLURALS = {"Secret": "secrets", "ServiceAccount": "serviceaccounts"}


def _post_path(kind: str, namespace: str) -> str:
    # The syncer's create: POST to the namespaced collection with its field manager.
    return f"/api/v1/namespaces/{namespace}/{PLURALS[kind]}?fieldManager={FIELD_MANAGER}"


Reader = Callable[[str, str], tuple[int, dict[str, str]]]  # (mount, path) -> (version, data)


def vault_reader(client: hvac.Client) -> Reader:
    def read(mount: str, path: str) -> tuple[int, dict[str, str]]:
        got = client.secrets.kv.v2.read_secret_version(
            path=path, mount_point=mount, raise_on_deleted_version=True)["data"]
        return int(got["metadata"]["version"]), dict(got["data"])
    return read


class SyncerVault(Protocol):
    def read(self, mount: str, path: str, kv_version: int) -> object: ...
    def read_metadata(self, mount: str, path: str) -> object: ...


def syncer_vault(address: str, token_file: Path) -> SyncerVault:
    """The syncer's own Vault reader (hvac on one requests Session, its retry policy),
    logged in with the token in ``token_file``: for timing reads as the syncer makes them."""
    from syncer.vault import VaultReader
    return VaultReader(settings.VaultSettings.model_validate({
        "address": address, "auth": {"method": "token", "tokenFile": str(token_file)},
        "kv": {"mount": "secret", "version": 2}}))


def _random_values(mount: str, path: str) -> tuple[int, dict[str, str]]:
    return 1, {"access_key": secrets.token_urlsafe(24), "secret_key": secrets.token_urlsafe(24)}


def render_creates(layout: lay.Layout, read: Reader, vault_address: str = "http://unused"
                   ) -> list[dict[str, Any]]:
    """The creates of an initial sync (the syncer's own render + diff), Secrets first."""
    config = settings.Config.model_validate(json.loads(lay.config(
        layout, vault_address=vault_address, auth={"method": "token", "token": "unused"})))
    data: dict[render.SourceKey, VaultData | VaultFailure] = {}
    for key in render.distinct_sources(config):
        mount, path, _, _ = key
        version, values = read(mount, path)
        data[key] = VaultData(mount=mount, path=path, version=version,
                              data={k: SecretValue(v) for k, v in values.items()})
    namespaces = {ns: Namespace(ns, {}) for ns in layout.namespaces}
    rendered = render.render(config, namespaces=namespaces, vault=data)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    out: list[dict[str, Any]] = []
    for secret in rendered.secrets.values():
        (action,) = diff.diff_secret(secret, None, now=now)
        out.append({"kind": "Secret", "namespace": secret.namespace,
                    "path": _post_path("Secret", secret.namespace), "body": encode(action.body)})
    for sa in rendered.service_accounts.values():
        (action,) = diff.diff_service_account(sa, None, available=set(sa.secrets))
        out.append({"kind": "ServiceAccount", "namespace": sa.namespace,
                    "path": _post_path("ServiceAccount", sa.namespace),
                    "body": encode(action.body)})
    return out


def probes(kubeconfig: Path) -> dict[str, Callable[[], object]]:
    """One call each of what a create passes through in the syncer besides the network:
    name -> a function doing it once (for timeit). ``kubeconfig`` points anywhere: no
    request is sent. Log lines go to /dev/null."""
    api = kube.load_api_client(str(kubeconfig))
    (secret, account) = next(c for c in _pairs(render_creates(lay.make(10, "p", "p"),
                                                              _random_values)))
    raw = {"Secret": _raw(secret), "ServiceAccount": _raw(account)}
    devnull = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the probes
    logs.configure(json=True)
    structlog.configure(logger_factory=lambda *_: structlog.PrintLogger(file=devnull))
    log = structlog.get_logger("bench.probe")

    def sanitize(body: Any) -> Any:
        return body  # the transport sends the encoded dict as it is

    def auth() -> object:
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        headers["Authorization"] = api.authorization() or ""
        return headers

    return {
        "bearer token per request (cached Authorization header)": auth,
        "retry wrapper (tenacity via syncer.retry)": lambda: retry.DEFAULT.call("p", int),
        "log line per write (structlog + redaction, JSON)": lambda: log.info(
            "write", kind="Secret", namespace="ns-0001", name="s3-secret-1", action="create",
            reason="missing"),
        "Secret body: encode + json.dumps": lambda: json.dumps(
            sanitize(encode(raw["Secret"]))),
        "ServiceAccount body: encode + json.dumps": lambda: json.dumps(
            sanitize(encode(raw["ServiceAccount"]))),
    }


def _pairs(creates: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    secrets_ = [c for c in creates if c["kind"] == "Secret"]
    accounts = [c for c in creates if c["kind"] == "ServiceAccount"]
    return list(zip(secrets_, accounts, strict=False))


def _raw(create: dict[str, Any]) -> dict[str, Any]:
    """A create's body with its data values as the SecretValues the syncer holds."""
    body = json.loads(json.dumps(create["body"]))
    if "data" in body:
        body["data"] = {k: SecretValue(v) for k, v in body["data"].items()}
    return dict(body)


def write(path: Path, creates: list[dict[str, Any]]) -> Path:
    """Write the creates as JSON lines, readable by the owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        for obj in creates:
            fh.write(json.dumps(obj) + "\n")
    return path


def load(path: Path) -> list[dict[str, Any]]:
    with path.open() as fh:
        return [json.loads(line) for line in fh if line.strip()]
