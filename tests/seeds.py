"""Every secret value a test puts into Vault comes from here, so the leak guard
in conftest.py can scan all captured output for each of them (plain, base64,
JSON-escaped, and whitespace-insensitively for multi-line values)."""

from __future__ import annotations

import base64
import json
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import yaml

SEED_PATTERN = Path(__file__).resolve().parent / "fixtures" / "seed-pattern.yaml"


def _seed_values() -> dict[str, str]:
    """The seed pattern's documented example credentials, as its Secrets hold them."""
    values: dict[str, str] = {}
    for doc in yaml.safe_load_all(SEED_PATTERN.read_text()):
        values.update(doc.get("stringData") or {})
    return values


_SEED = _seed_values()
AWS_ACCESS_KEY_ID = _SEED["AWS_ACCESS_KEY_ID"]
AWS_SECRET_ACCESS_KEY = _SEED["AWS_SECRET_ACCESS_KEY"]
HF_TOKEN = _SEED["HF_TOKEN"]

_lock = threading.Lock()
_seeded: dict[str, str] = {
    "seed-access-key": AWS_ACCESS_KEY_ID,
    "seed-secret-key": AWS_SECRET_ACCESS_KEY,
    "seed-hf-token": HF_TOKEN,
}


def fake(label: str, prefix: str = "") -> str:
    """A fresh random credential value, registered with the leak guard."""
    value = prefix + secrets.token_urlsafe(24)
    register(label, value)
    return value


# Values a test makes a server quote back on purpose (an admission policy that
# echoes what it refuses): the server's own logs hold them by design, ours never.
_echoed: set[str] = set()


def register(label: str, value: str, *, echoed_by_server: bool = False) -> str:
    with _lock:
        key = f"{label}#{len(_seeded)}"
        _seeded[key] = value
        if echoed_by_server:
            _echoed.add(key)
    return value


def needles(*, server_logs: bool = False) -> Iterator[tuple[str, str]]:
    """(label, text) to look for; ``server_logs``: leave out values a test makes a
    server echo on purpose."""
    with _lock:
        items = [(k, v) for k, v in _seeded.items() if not (server_logs and k in _echoed)]
    for label, value in items:
        yield label, value
        yield f"{label} (base64)", base64.b64encode(value.encode()).decode()
        escaped = json.dumps(value)[1:-1]
        if escaped != value:
            yield f"{label} (JSON-escaped)", escaped
