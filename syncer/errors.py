"""Every error the syncer raises on purpose, so callers never handle hvac or
the kubernetes client's exceptions, nor compare HTTP statuses themselves.

The Kubernetes adapter maps a status to a subclass (``KubeNotFound`` for 404,
``KubeConflict`` for 409, ...), the way kopf's ``errors.py`` does. Messages
name the entry, path or object and the status - never a value. Text bodies
from servers are scrubbed of known secret values and cut to 256 chars.
"""

from __future__ import annotations

import json

from syncer.scrub import scrub

MAX_BODY = 256


def short(text: object) -> str:
    """A server message, scrubbed of secret values, then on one line and cut short.

    Scrubbing comes first: a multi-line value echoed with its line breaks must be
    found before whitespace is collapsed (and again after, for a reflowed echo)."""
    out = scrub(" ".join(scrub(str(text)).split()))
    return out if len(out) <= MAX_BODY else out[:MAX_BODY] + "…"


class SyncError(Exception):
    """Base of everything the syncer raises on purpose."""


class ConfigError(SyncError):
    """The config is invalid; ``errors`` lists each problem as ``field.path: message``."""

    def __init__(self, source: str, errors: list[str]) -> None:
        self.source = source
        self.errors = errors
        super().__init__(f"{source}: " + "; ".join(errors))


class ValueRejected(SyncError):
    """A Vault value that must not reach a Secret. The message never holds the value."""


class VaultError(SyncError):
    """A Vault call failed. ``status`` is the HTTP status when there was one."""

    def __init__(self, message: str, *, status: int | None = None,
                 transient: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.transient = transient


class VaultAuthError(VaultError):
    """Login failed, or the token was refused (403)."""


class VaultNotFound(VaultError):
    """The path (or the pinned version) does not exist."""


class VaultLeaseGone(VaultError):
    """A lease Vault no longer knows: it expired or was revoked."""


class KubeError(SyncError):
    """A Kubernetes API call failed. ``status`` is None when the server was unreachable."""

    def __init__(self, message: str, *, status: int | None = None, reason: str = "",
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        return self.status is None or self.status == 429 or self.status >= 500


class KubeForbidden(KubeError):
    """403: RBAC does not allow this request (a namespace we may not read, say)."""


class KubeNotFound(KubeError):
    """404: the object, or the kind, does not exist."""


class KubeConflict(KubeError):
    """409: someone else wrote first (AlreadyExists or a resourceVersion conflict)."""


class KubeGone(KubeError):
    """410: a watch's resourceVersion is too old; list again."""


class KubeInvalid(KubeError):
    """422: the server refused the object (too large, invalid, or an admission policy)."""


_BY_STATUS: dict[int, type[KubeError]] = {403: KubeForbidden, 404: KubeNotFound,
                                          409: KubeConflict, 410: KubeGone, 422: KubeInvalid}


def kube_error(message: str, *, status: int | None, reason: str = "",
               retry_after: float | None = None) -> KubeError:
    """The KubeError subclass for ``status``."""
    cls = _BY_STATUS.get(status or 0, KubeError)
    return cls(message, status=status, reason=reason, retry_after=retry_after)


def kube_error_from_response(status: int, raw: bytes, retry_after: str | None,
                             what: str) -> KubeError:
    """The typed error for an API server response: its Status reason and message, scrubbed."""
    reason, message = "", ""
    try:
        payload = json.loads(raw)
        reason, message = payload.get("reason", ""), payload.get("message", "")
    except ValueError:
        message = raw.decode(errors="replace")
    try:
        wait = float(retry_after) if retry_after else None
    except ValueError:
        wait = None
    return kube_error(f"{what}: HTTP {status} {reason} ({short(message)})", status=status,
                      reason=reason, retry_after=wait)
