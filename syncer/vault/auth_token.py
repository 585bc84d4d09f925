"""Token auth: a token from VAULT_TOKEN, the config, or a file; looked up, not logged in."""

from __future__ import annotations

from typing import Any

from syncer import settings
from syncer.vault.login import Login, read_file


def login(client: Any, auth: settings.AuthSettings) -> Login:
    if auth.token is not None:
        token = auth.token.get_secret_value()
    else:
        assert auth.token_file is not None  # settings guarantees one of them
        token = read_file(auth.token_file, "vault.auth.tokenFile")
    client.token = token
    data = client.auth.token.lookup_self()["data"]
    # A token file can be replaced (by an agent or a rotation job): re-read it on 403.
    return Login(token=token, ttl=float(data.get("ttl") or 0),
                 renewable=bool(data.get("renewable")), can_relogin=auth.token_file is not None)
