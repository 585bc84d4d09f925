"""Dispatch to one login function per auth method (auth_<method>.py).

Each login returns a :class:`~syncer.vault.login.Login`: the token and how long
it lives, so the reader can renew it before expiry and log in again only when
it must.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from syncer import settings
from syncer.vault import auth_approle, auth_cert, auth_jwt, auth_kubernetes, auth_token
from syncer.vault.login import Login

LoginFn = Callable[[Any, settings.AuthSettings], Login]
METHODS: dict[str, LoginFn] = {
    "token": auth_token.login,
    "approle": auth_approle.login,
    "kubernetes": auth_kubernetes.login,
    "jwt": auth_jwt.login,
    "cert": auth_cert.login,
}


def login(client: Any, auth: settings.AuthSettings) -> Login:
    """Log in with the configured method; ``client`` is an hvac.Client."""
    return METHODS[auth.method](client, auth)
