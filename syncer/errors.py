"""Errors the adapters raise, so callers never handle hvac or ApiException directly.

Messages name the entry, path or object and the status - never a value. Text
bodies from servers are scrubbed of known secret values and cut to 256 chars.
"""

from __future__ import annotations

from syncer.secretvalue import scrub

MAX_BODY = 256


def short(text: object) -> str:
    """A server message, scrubbed of secret values and cut short."""
    out = scrub(" ".join(str(text).split()))
    return out if len(out) <= MAX_BODY else out[:MAX_BODY] + "…"


class SyncError(Exception):
    """Base of everything the syncer raises on purpose."""


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


class KubeError(SyncError):
    """A Kubernetes API call failed."""

    def __init__(self, message: str, *, status: int | None = None, reason: str = "",
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        return self.status is None or self.status == 429 or self.status >= 500
