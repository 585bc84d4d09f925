"""The exact request bodies the syncer sends for an initial sync, for the floors.

This is the one benchmark module that imports the syncer's internals (render,
diff, settings and the adapter's ``encode``), read-only: when those modules
move, this is the file to fix. Everything else in ``bench/`` runs the syncer
as a subprocess, as a user would.

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
import time
from pathlib import Path
from typing import Any

import hvac

from bench import layout as lay
from syncer import diff, render, settings
from syncer.kube import FIELD_MANAGER, encode
from syncer.model import SELECTOR, VaultData
from syncer.secretvalue import SecretValue

__all__ = ["SELECTOR", "load", "write"]

PLURALS = {"Secret": "secrets", "ServiceAccount": "serviceaccounts"}


def _post_path(kind: str, namespace: str) -> str:
    # The syncer's create: POST to the namespaced collection with its field manager.
    return f"/api/v1/namespaces/{namespace}/{PLURALS[kind]}?fieldManager={FIELD_MANAGER}"


def _vault_data(client: hvac.Client, config: settings.Config
                ) -> dict[render.SourceKey, VaultData | str]:
    data: dict[render.SourceKey, VaultData | str] = {}
    for key in render.distinct_sources(config):
        mount, path, _, _ = key
        got = client.secrets.kv.v2.read_secret_version(
            path=path, mount_point=mount, raise_on_deleted_version=True)["data"]
        data[key] = VaultData(mount, path, got["metadata"]["version"],
                              {k: SecretValue(v) for k, v in got["data"].items()})
    return data


def render_creates(layout: lay.Layout, client: hvac.Client, vault_address: str
                   ) -> list[dict[str, Any]]:
    """The creates of an initial sync (the syncer's own render + diff), Secrets first."""
    config = settings.Config.model_validate(json.loads(lay.config(
        layout, vault_address=vault_address, auth={"method": "token", "token": "unused"})))
    namespaces = {ns: render.Namespace(ns, {}) for ns in layout.namespaces}
    rendered = render.render(config, namespaces=namespaces, vault=_vault_data(client, config))
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
