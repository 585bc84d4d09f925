"""Every secret value a test puts into Vault comes from here, so the leak guard
in conftest.py can scan all captured output for each of them (plain and base64)."""

from __future__ import annotations

import base64
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


def register(label: str, value: str) -> str:
    with _lock:
        _seeded[f"{label}#{len(_seeded)}"] = value
    return value


def needles() -> Iterator[tuple[str, str]]:
    with _lock:
        items = list(_seeded.items())
    for label, value in items:
        yield label, value
        yield f"{label} (base64)", base64.b64encode(value.encode()).decode()
