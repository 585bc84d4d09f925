"""Every secret value a test puts into Vault comes from here, so the leak guard
in conftest.py can scan all captured output for each of them (plain, base64,
JSON-escaped, and whitespace-insensitively for multi-line values)."""

from __future__ import annotations

import base64
import json
import secrets
import threading
from collections.abc import Iterator

# The seed pattern's documented example credentials (../shared/examples/seed-pattern.yaml).
AWS_ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
HF_TOKEN = "hf_aBcDeFgHiJkLmNoPqRsTuVwXyZ"

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
        escaped = json.dumps(value)[1:-1]
        if escaped != value:
            yield f"{label} (JSON-escaped)", escaped
