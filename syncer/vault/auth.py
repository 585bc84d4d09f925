"""Dispatch to one login function per auth method (auth_<method>.py).

Each login returns a :class:`Login`: the token and how long it lives, so the
reader can renew it before expiry and log in again only when it must.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from syncer import settings


@dataclass(frozen=True)
class Login:
    token: str
    ttl: float  # seconds; 0 means it never expires (a root token)
    renewable: bool
    can_relogin: bool  # False for a static token: nothing to log in again with

    def __repr__(self) -> str:
        return f"Login(ttl={self.ttl}, renewable={self.renewable})"


def read_file(path: str, what: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise FileNotFoundError(f"{what}: cannot read {path}: {exc.strerror}") from None


def login(client: Any, auth: settings.AuthSettings) -> Login:
    """Log in with the configured method; ``client`` is an hvac.Client."""
    if auth.method == "kubernetes":
        from syncer.vault.auth_kubernetes import login as kubernetes_login
        return kubernetes_login(client, auth)
    if auth.method == "approle":
        from syncer.vault.auth_approle import login as approle_login
        return approle_login(client, auth)
    from syncer.vault.auth_token import login as token_login
    return token_login(client, auth)


def from_auth_response(response: dict[str, Any], *, can_relogin: bool = True) -> Login:
    auth = response["auth"]
    return Login(token=auth["client_token"], ttl=float(auth.get("lease_duration") or 0),
                 renewable=bool(auth.get("renewable")), can_relogin=can_relogin)
