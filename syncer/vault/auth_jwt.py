"""JWT auth: present a JWT - the pod's projected ServiceAccount token, bound to
Vault's audience - which Vault checks against the cluster issuer's public keys
(given to it, or fetched by OIDC discovery), so Vault needs no route to the API
server.

The token file is re-read at every login: the kubelet rotates projected tokens.
"""

from __future__ import annotations

from typing import Any

from syncer import settings
from syncer.vault.login import Login, from_auth_response, read_file


def login(client: Any, auth: settings.AuthSettings) -> Login:
    jwt = read_file(auth.jwt_path, "vault.auth.jwtPath")
    response = client.auth.jwt.jwt_login(role=auth.role, jwt=jwt, path=auth.mount_point,
                                         use_token=True)
    return from_auth_response(response)
