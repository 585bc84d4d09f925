"""Vault's AWS secrets engine, the HTTP side: issue an ``iam_user`` key under a
lease, and renew, look up and revoke that lease.

When to do which is decided elsewhere (:mod:`syncer.leases`, pure, and
:mod:`syncer.awskeys`, which keeps the state). Requests go through the
reader's ``call``, so they share its token, its retries and its re-login on
403. Static roles need nothing here: their key is one plain read.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from syncer.errors import VaultError, VaultLeaseGone
from syncer.secretvalue import SecretValue
from syncer.vault.login import TokenState

_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$")
# VaultReader.call: (what, operation, fn(hvac client), retry=...) -> fn's result.
Call = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class Issued:
    """A key Vault just made, and its lease."""

    lease_id: str
    ttl: float
    renewable: bool
    access_key: SecretValue
    secret_key: SecretValue

    def __repr__(self) -> str:
        return f"Issued(ttl={self.ttl}, renewable={self.renewable})"


@dataclass(frozen=True, slots=True)
class LeaseInfo:
    """What ``sys/leases/lookup`` says about a live lease."""

    ttl: float
    renewable: bool
    issued_at: float | None  # unix time; None if the server did not say


class AwsEngine:
    """Renewal and revocation name the lease in the URL, so a policy can grant them
    for one role's leases only (``sys/leases/revoke/aws/creds/ROLE/*``).

    A lease dies with the token that issued it, so the engine also tells the
    reader's token state and can ask for a fresh token before an issue."""

    def __init__(self, call: Call, token: Callable[[], TokenState],
                 relogin: Callable[[], bool]) -> None:
        self._call = call
        self.token = token
        self.relogin = relogin

    def issue(self, mount: str, role: str) -> Issued:
        path = f"{mount}/creds/{role}"
        # Not retried: a request whose answer was lost may still have made a key, and a
        # second attempt would leave that one's lease unheld (Vault ends it at its TTL).
        response = self._call(f"issue {path}", "issue",
                              lambda client: client.adapter.get(f"/v1/{path}"), retry=False)
        data = response.get("data") if isinstance(response, dict) else None
        lease_id = response.get("lease_id") if isinstance(response, dict) else None
        if not isinstance(data, dict) or not lease_id:
            raise VaultError(f"issue {path}: unexpected response shape (no lease)")
        access, secret = data.get("access_key"), data.get("secret_key")
        if not isinstance(access, str) or not isinstance(secret, str) or not access or not secret:
            raise VaultError(f"issue {path}: no access_key/secret_key in the answer")
        return Issued(lease_id=str(lease_id), ttl=float(response.get("lease_duration") or 0),
                      renewable=bool(response.get("renewable")),
                      access_key=SecretValue(access), secret_key=SecretValue(secret))

    def renew(self, lease_id: str, increment: float) -> tuple[float, bool]:
        """Ask for ``increment`` more seconds; returns (granted TTL, still renewable).
        Vault grants less when the lease's max TTL is near."""
        response = self._gone_on_400(
            "renew lease", "lease_renew",
            lambda client: client.adapter.put(f"/v1/sys/leases/renew/{lease_id}",
                                              json={"increment": max(1, int(increment))}))
        return float(response.get("lease_duration") or 0), bool(response.get("renewable"))

    def lookup(self, lease_id: str) -> LeaseInfo:
        response = self._gone_on_400("look up lease", "lease_lookup",
                                     lambda client: client.sys.read_lease(lease_id))
        data = response.get("data") or {}
        return LeaseInfo(ttl=float(data.get("ttl") or 0), renewable=bool(data.get("renewable")),
                         issued_at=_unix(data.get("issue_time")))

    def revoke(self, lease_id: str) -> None:
        """Revoke now: Vault deletes the IAM user and its key. An unknown lease is no error."""
        self._call("revoke lease", "lease_revoke",
                   lambda client: client.adapter.put(f"/v1/sys/leases/revoke/{lease_id}"))

    def _gone_on_400(self, what: str, operation: str, fn: Callable[[Any], Any]
                     ) -> dict[str, Any]:
        try:
            response = self._call(what, operation, fn)
        except VaultError as exc:
            # Both servers answer 400 ("invalid lease", "lease not found") for a lease
            # that expired or was revoked.
            if exc.status == 400:
                raise VaultLeaseGone(f"{what}: the lease is gone (expired or revoked)",
                                     status=400) from None
            raise
        if not isinstance(response, dict):
            raise VaultError(f"{what}: unexpected response shape")
        return response


def _unix(stamp: object) -> float | None:
    """Vault's RFC 3339 time (nanoseconds cut to micro, any offset) as unix time."""
    match = _RFC3339.match(stamp) if isinstance(stamp, str) else None
    if match is None:
        return None
    head, frac, zone = match.groups()
    zone = "+00:00" if zone in (None, "Z") else zone
    try:
        return datetime.fromisoformat(f"{head}.{(frac or '0')[:6]:0<6}{zone}").timestamp()
    except ValueError:
        return None
