"""The life of a leased AWS key (Vault's ``<mount>/creds/<role>``) as pure
decisions over plain records: when to issue, renew, re-issue and retire.

Vault grants a lease ``ttl`` seconds and renews it on request, but never past
the role's or mount's max TTL counted from issue. A renewal that grants less
than it asked for has met that cap: from then on ``expires_at`` is final
(``capped``). The next key is issued ``overlap`` seconds before that end; the
old lease is *retiring* until its successor is in every target (the caller
decides that) and is then revoked - or Vault ends it at its max TTL, whichever
comes first.

A lease also dies with the Vault token that issued it (Vault revokes a
token's leases when the token ends). So each lease remembers its token's end;
once that end is final - the token met its max TTL, or it belongs to an earlier
login or an earlier process - it caps the lease like a max TTL, and the next
key is issued (under a fresh token) ``overlap`` before it.

``horizon`` is how far away the next chance to act is (the sync interval plus
jitter): each decision is taken as if it were already then, so nothing falls
between two cycles.

No I/O: :mod:`syncer.awskeys` does the requests and keeps these records, and
:mod:`syncer.leasestore` persists them with :func:`dump` / :func:`load`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any, Literal

from syncer.secretvalue import SecretValue

Step = Literal["issue", "renew", "reissue", "keep"]


@dataclass(frozen=True, slots=True)
class Lease:
    """The lease whose key the targets should hold."""

    lease_id: str
    access_key: SecretValue
    secret_key: SecretValue
    issued_at: float  # unix time
    granted: float  # seconds Vault granted at issue: what each renewal asks for
    expires_at: float  # unix time it ends unless renewed
    capped: bool = False  # expires_at is final: the max TTL is reached
    token_end: float | None = None  # when the issuing token ends (as last seen); None: never
    token_gen: int | None = None  # the reader's login that issued it; None: another process

    def __repr__(self) -> str:
        return (f"Lease(granted={self.granted}, expires_at={self.expires_at}, "
                f"capped={self.capped}, token_end={self.token_end})")


@dataclass(frozen=True, slots=True)
class Retiring:
    """An older lease, kept until its successor is in every target."""

    lease_id: str
    expires_at: float  # Vault ends it then at the latest
    since: float  # when its successor was issued


@dataclass(frozen=True, slots=True)
class Record:
    """Everything held for one credential."""

    current: Lease | None = None
    retiring: tuple[Retiring, ...] = ()

    @property
    def empty(self) -> bool:
        return self.current is None and not self.retiring


def token_bound(lease: Lease, *, generation: int, final: bool) -> float | None:
    """The final end of the token that issued ``lease`` (it ends the lease then), or
    None while that token may still be renewed (``generation``/``final``: the reader's
    current login and whether its end is final) or never ends."""
    if lease.token_end is None:
        return None
    if lease.token_gen != generation or final:
        return lease.token_end
    return None


def next_step(lease: Lease | None, now: float, *, horizon: float, overlap: float,
              token_end: float | None = None) -> Step:
    """What to do with the current lease now, so that it is still right at ``now + horizon``.
    ``token_end``: :func:`token_bound` of the lease."""
    if lease is None or lease.expires_at <= now or (token_end is not None and token_end <= now):
        return "issue"
    ends = ([lease.expires_at] if lease.capped else []) + (
        [token_end] if token_end is not None else [])
    if ends and min(ends) - (now + horizon) <= overlap:
        return "reissue"
    if lease.capped:
        return "keep"
    # Renew once a third of the grant is all that will be left (Vault's own agents
    # renew at about two thirds of a lease's life).
    left = lease.expires_at - (now + horizon)  # what will be left at the next chance
    return "renew" if left <= lease.granted / 3 else "keep"


def issued(lease_id: str, access_key: SecretValue, secret_key: SecretValue, *, ttl: float,
           renewable: bool, now: float, token_end: float | None = None,
           token_gen: int | None = None) -> Lease:
    return Lease(lease_id=lease_id, access_key=access_key, secret_key=secret_key,
                 issued_at=now, granted=ttl, expires_at=now + ttl, capped=not renewable,
                 token_end=token_end, token_gen=token_gen)


def renewed(lease: Lease, *, ttl: float, renewable: bool, now: float) -> Lease:
    """The lease after a renewal that granted ``ttl`` seconds. Asked for its original
    grant, Vault gives less only when the max TTL cuts it: then the end is final."""
    return replace(lease, expires_at=now + ttl, capped=not renewable or ttl < lease.granted)


def looked_up(lease: Lease, *, ttl: float, renewable: bool, now: float) -> Lease:
    """The lease as Vault reports it after a restart (how it was renewed is unknown)."""
    return replace(lease, expires_at=now + ttl, capped=not renewable)


def succeed(record: Record, lease: Lease, *, retire: bool, now: float) -> Record:
    """A new current lease; the old one, if still alive and ``retire``, waits for retirement."""
    old = record.current
    retiring = record.retiring
    if retire and old is not None and old.expires_at > now:
        retiring += (Retiring(old.lease_id, old.expires_at, since=now),)
    return Record(current=lease, retiring=retiring)


def without_ended(record: Record, now: float) -> Record:
    """Drop retiring leases Vault has ended by itself (their max TTL passed)."""
    alive = tuple(r for r in record.retiring if r.expires_at > now)
    return record if alive == record.retiring else replace(record, retiring=alive)


def may_revoke(old: Retiring, now: float, *, revoke_after: float) -> bool:
    """Whether ``revoke_after`` has passed since ``old``'s successor was issued (the
    caller also checks that the successor is in every target)."""
    return now >= old.since + revoke_after


def too_short(lease: Lease, horizon: float) -> bool:
    """A grant that cannot be renewed in time: it ends before the next chance to act."""
    return lease.granted <= horizon


# -- persistence (syncer.leasestore) -------------------------------------------------


def dump(record: Record) -> SecretValue:
    """The record as JSON for the lease store. It holds the key: wrapped at once."""
    doc: dict[str, Any] = {"retiring": [{"leaseId": r.lease_id, "expiresAt": r.expires_at,
                                         "since": r.since} for r in record.retiring]}
    lease = record.current
    if lease is not None:
        doc["current"] = {"leaseId": lease.lease_id, "accessKey": lease.access_key.reveal(),
                          "secretKey": lease.secret_key.reveal(), "issuedAt": lease.issued_at,
                          "granted": lease.granted, "expiresAt": lease.expires_at,
                          "tokenEnd": lease.token_end}
    return SecretValue(json.dumps(doc, sort_keys=True))


def load(text: SecretValue) -> Record:
    """A record from :func:`dump`'s JSON; ValueError (naming no value) if malformed."""
    try:
        doc = json.loads(text.reveal())
        retiring = tuple(Retiring(str(r["leaseId"]), float(r["expiresAt"]), float(r["since"]))
                         for r in doc.get("retiring") or [])
        raw = doc.get("current")
        current = None
        if raw is not None:
            for field in ("leaseId", "accessKey", "secretKey"):
                if not isinstance(raw[field], str) or not raw[field]:
                    raise ValueError(f"{field} is not a non-empty string")
            token_end = raw.get("tokenEnd")
            # Issued by another process's token, which nobody renews any more.
            current = Lease(lease_id=raw["leaseId"], access_key=SecretValue(raw["accessKey"]),
                            secret_key=SecretValue(raw["secretKey"]),
                            issued_at=float(raw["issuedAt"]), granted=float(raw["granted"]),
                            expires_at=float(raw["expiresAt"]),
                            token_end=None if token_end is None else float(token_end))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ValueError(f"malformed lease record ({type(exc).__name__})") from None
    return Record(current=current, retiring=retiring)
