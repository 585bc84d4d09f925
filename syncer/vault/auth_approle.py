"""AppRole auth: role ID from the config, secret ID from a file or VAULT_APPROLE_SECRET_ID."""

from __future__ import annotations

from typing import Any

from syncer import settings
from syncer.vault.login import Login, from_auth_response, read_file


def login(client: Any, auth: settings.AuthSettings) -> Login:
    if auth.secret_id is not None:
        secret_id = auth.secret_id.get_secret_value()
    else:
        assert auth.secret_id_file is not None
        secret_id = read_file(auth.secret_id_file, "vault.auth.secretIdFile")
    response = client.auth.approle.login(role_id=auth.role_id, secret_id=secret_id,
                                         mount_point=auth.mount_point, use_token=True)
    return from_auth_response(response)
