"""Whether this Vault server honours ``vault.namespace``.

HashiCorp Vault's community edition has no namespaces and ignores the
``X-Vault-Namespace`` header: a read meant for a namespace silently answers
from the root namespace, with whatever lives at the same path there. Its
``sys/health`` says ``enterprise: false``. Vault Enterprise says ``true``;
OpenBao, which has namespaces, has no such field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from syncer.errors import VaultError

# Every state answers 200 with its JSON body: a standby, sealed or uninitialised
# server still tells its edition.
HEALTH_QUERY = {"standbyok": "true", "perfstandbyok": "true", "standbycode": "200",
                "performancestandbycode": "200", "drsecondarycode": "200",
                "sealedcode": "200", "uninitcode": "200"}


def read_health(client: Any, timeout: float) -> Mapping[str, Any]:
    """``sys/health``, asked without the namespace header: it belongs to the root
    namespace. ``client`` is an hvac.Client; requests' errors reach the caller."""
    response = client.adapter.session.get(f"{client.adapter.base_uri}/v1/sys/health",
                                          params=HEALTH_QUERY, timeout=timeout)
    if response.status_code >= 400:
        raise VaultError(f"sys/health: HTTP {response.status_code}",
                         status=response.status_code,
                         transient=response.status_code in (429, 500, 502, 503))
    try:
        body = response.json()
    except ValueError:
        raise VaultError("sys/health: not a JSON answer") from None
    if not isinstance(body, dict):
        raise VaultError("sys/health: unexpected answer")
    return body


def namespace_problem(health: Mapping[str, Any], namespace: str) -> str | None:
    """Why ``namespace`` cannot be used on this server, or None if it can."""
    if namespace and health.get("enterprise") is False:
        return (f"vault.namespace {namespace!r}: this is HashiCorp Vault's community "
                "edition (sys/health: enterprise false), which has no namespaces and "
                "ignores the namespace header - it would answer from the root namespace. "
                "Remove vault.namespace, or use Vault Enterprise or OpenBao")
    return None
