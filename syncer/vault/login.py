"""What every auth method returns, and the helpers they share.

Its own module so ``auth.py`` (the dispatch) and the ``auth_<method>.py``
files all import it, and none of them imports another.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Login:
    token: str
    ttl: float  # seconds; 0 means it never expires (a root token)
    renewable: bool
    can_relogin: bool  # False for a static token: nothing to log in again with

    def __repr__(self) -> str:
        return f"Login(ttl={self.ttl}, renewable={self.renewable})"


@dataclass(frozen=True)
class TokenState:
    """The reader's current token, as far as leases issued with it care: Vault
    revokes every lease a token made when the token ends (expiry or revocation)."""

    generation: int  # bumped per login
    end: float | None  # unix time it ends unless renewed; None: it never expires
    final: bool  # it will not be renewed past ``end`` (its max TTL is reached)


def read_file(path: str, what: str) -> str:
    """A credential file (token, secret ID, JWT), re-read at every login: they rotate on disk."""
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise FileNotFoundError(f"{what}: cannot read {path}: {exc.strerror}") from None


def check_readable(path: str, what: str) -> None:
    """Fail clearly on a missing credential file that a library reads itself later."""
    try:
        with Path(path).open("rb"):
            pass
    except OSError as exc:
        raise FileNotFoundError(f"{what}: cannot read {path}: {exc.strerror}") from None


def from_auth_response(response: dict[str, Any], *, can_relogin: bool = True) -> Login:
    auth = response["auth"]
    return Login(token=auth["client_token"], ttl=float(auth.get("lease_duration") or 0),
                 renewable=bool(auth.get("renewable")), can_relogin=can_relogin)
