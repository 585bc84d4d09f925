"""Kubernetes auth: present the pod's ServiceAccount token; Vault reviews it
with a TokenReview against the cluster and answers with a Vault token.

The token file is re-read at every login: projected tokens rotate on disk.
"""

from __future__ import annotations

from typing import Any

from syncer import settings
from syncer.vault.login import Login, from_auth_response, read_file


def login(client: Any, auth: settings.AuthSettings) -> Login:
    jwt = read_file(auth.jwt_path, "vault.auth.jwtPath")
    response = client.auth.kubernetes.login(role=auth.role, jwt=jwt,
                                            mount_point=auth.mount_point, use_token=True)
    return from_auth_response(response)
