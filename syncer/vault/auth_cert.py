"""TLS certificate auth: the client certificate presented in the TLS handshake
is the credential; Vault matches it against the CA of a certificate role
(``vault.auth.role`` names one, otherwise any role whose CA signed it).

The reader's HTTP client carries ``clientCert``/``clientKey`` as file paths,
which the TLS layer reads at each new connection. A login first drops pooled
connections, so a certificate renewed on disk (cert-manager, say) is the one
presented from the next login on.
"""

from __future__ import annotations

from typing import Any

from syncer import settings
from syncer.vault.login import Login, check_readable, from_auth_response


def login(client: Any, auth: settings.AuthSettings) -> Login:
    assert auth.client_cert and auth.client_key  # settings guarantees both for cert
    check_readable(auth.client_cert, "vault.auth.clientCert")
    check_readable(auth.client_key, "vault.auth.clientKey")
    client.adapter.session.close()  # the next connection handshakes with the files as they are
    body = {"name": auth.role} if auth.role else {}
    response = client.adapter.post(f"/v1/auth/{auth.mount_point}/login", json=body)
    return from_auth_response(response)
