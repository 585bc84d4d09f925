"""Keys from Vault's AWS secrets engine, across cycles and restarts.

Dynamic credentials (``vault.role``): one lease per credential, issued when
first needed, renewed ahead of its TTL and re-issued ``overlap`` before its
max TTL - or before the end of the Vault token that issued it, which takes its
leases along; such a re-issue logs in first, so the new lease has a token that
outlives it (timing: :mod:`syncer.leases`). The old lease is revoked by
:meth:`AwsKeys.settle` once the new key is in every target of the credential
and no consumer restart (rollout: true) is pending for them; Vault ends it at
its max TTL otherwise. Each new lease is in the lease store before any target
sees its key, so a restart finds it: a live lease is reused, a dead one
dropped, a retiring one revoked once the current key is confirmed everywhere.

Static roles (``vault.staticRole``): one plain read per cycle; a changed key is
a rotation, which the cycle writes like any new value. The key's age counts
from when this process first saw it: Vault v1.18's answer carries no rotation
time.

The cycle reads through :func:`syncer.awsread.reader`, a VaultPort, so
``reconcile`` needs no knowledge of engines.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Protocol

import structlog

from syncer import leases, settings
from syncer.errors import KubeConflict, KubeError, VaultError, VaultLeaseGone
from syncer.leasestore import LeaseBook, LeaseStore
from syncer.model import Ref, VaultData
from syncer.outcome import Summary
from syncer.vault.aws import Issued, LeaseInfo
from syncer.vault.login import TokenState

log = structlog.get_logger(__name__)
CONFIRMED = frozenset({"created", "updated", "unchanged"})


class LeasePort(Protocol):
    def token(self) -> TokenState: ...
    def relogin(self) -> bool: ...
    def issue(self, mount: str, role: str) -> Issued: ...
    def renew(self, lease_id: str, increment: float) -> tuple[float, bool]: ...
    def lookup(self, lease_id: str) -> LeaseInfo: ...
    def revoke(self, lease_id: str) -> None: ...


def tail(lease_id: str) -> str:
    """Enough of a lease ID to find it in Vault's audit log."""
    return "..." + lease_id[-8:]


class AwsKeys:
    def __init__(self, engine: LeasePort, store: LeaseStore | None, *, dry_run: bool = False,
                 clock: Callable[[], float] = time.time) -> None:
        self.engine = engine  # replaced when the Vault settings change
        self._book = LeaseBook(store)
        self._dry_run = dry_run
        self._clock = clock
        self._work = threading.Lock()  # one credential's lease work at a time
        self._view = threading.Lock()  # guards the static keys, which metrics read
        self._served: set[str] = set()  # dynamic credentials given a key this cycle
        self._revoke_after: dict[str, float] = {}  # credential served -> its revokeAfter
        self._static: dict[str, tuple[str, float]] = {}  # credential -> (key digest, first seen)

    def begin_cycle(self) -> None:
        """A cycle starts: settle() then considers the credentials served in it."""
        self._served = set()

    def forget(self) -> None:
        """Drop what was loaded (leadership lost): the next use reads the store again."""
        with self._work:
            self._book.forget()

    # -- dynamic credentials --------------------------------------------------------

    def lease_key(self, cred: settings.Credential, horizon: float) -> VaultData:
        """The current key of ``cred``'s lease, after whatever its lease needs now."""
        assert cred.vault.role is not None and cred.vault.mount is not None
        where = f"{cred.vault.mount}/{cred.vault.path}"
        with self._work:
            try:
                self._book.load()
            except KubeError as exc:
                raise VaultError(f"{where}: lease store unreadable ({exc})") from None
            record = leases.without_ended(self._book.get(cred.name), self._clock())
            if cred.name not in self._book.checked:
                record = self._recheck(record)
                self._book.checked.add(cred.name)
                self._book.put(cred.name, record)
            record = self._follow_token(cred.name, record)
            record = self._advance(cred, record, horizon, where)
            lease = record.current
            if lease is None:  # only in a dry run: nothing alive to show
                raise VaultError(f"{where}: no live lease, and a dry run issues none")
            self._served.add(cred.name)
            self._revoke_after[cred.name] = cred.vault.revoke_after_seconds
            return VaultData(mount=cred.vault.mount, path=cred.vault.path, version=None,
                             data={"access_key": lease.access_key,
                                   "secret_key": lease.secret_key})

    def _recheck(self, record: leases.Record) -> leases.Record:
        """After a load: which stored leases Vault still holds, and until when."""
        now, stored = self._clock(), record.current
        current = None
        if stored is not None:
            try:
                info = self.engine.lookup(stored.lease_id)
                if info.ttl > 0:
                    current = leases.looked_up(stored, ttl=info.ttl, renewable=info.renewable,
                                               now=now)
                    log.info("lease_found", lease=tail(stored.lease_id), ttl=info.ttl)
            except VaultLeaseGone:
                log.warning("lease_gone", lease=tail(stored.lease_id))
        retiring = []
        for old in record.retiring:
            try:
                info = self.engine.lookup(old.lease_id)
                if info.ttl > 0:
                    retiring.append(leases.Retiring(old.lease_id, now + info.ttl, old.since))
            except VaultLeaseGone:
                continue
        return leases.Record(current=current, retiring=tuple(retiring))

    def _follow_token(self, name: str, record: leases.Record) -> leases.Record:
        """Keep a lease's token end in step while that token is ours and renewed, in the
        store too: after a crash nobody renews it, and that end is final."""
        lease, state = record.current, self.engine.token()
        if lease is None or lease.token_gen != state.generation or state.end is None:
            return record
        if lease.token_end is not None and abs(lease.token_end - state.end) < 5:
            return record
        record = leases.Record(current=replace(lease, token_end=state.end),
                               retiring=record.retiring)
        self._book.put(name, record)
        if not self._dry_run:
            self._book.save_quietly()
        return record

    def _bound(self, record: leases.Record) -> float | None:
        if record.current is None:
            return None
        state = self.engine.token()
        return leases.token_bound(record.current, generation=state.generation,
                                  final=state.final)

    def _advance(self, cred: settings.Credential, record: leases.Record, horizon: float,
                 where: str) -> leases.Record:
        now, overlap = self._clock(), cred.vault.overlap_seconds
        step = leases.next_step(record.current, now, horizon=horizon, overlap=overlap,
                                token_end=self._bound(record))
        if record.current is not None and not record.current.lease_id.startswith(where + "/"):
            step = "reissue"  # the entry names another role now: its old key retires
        if self._dry_run:
            return record if step in ("keep", "renew") else leases.Record(
                retiring=record.retiring)
        if step == "renew":
            record, step = self._renew(cred, record, now, horizon)
        if step in ("issue", "reissue"):
            record = self._issue(cred, record, retire=step == "reissue", horizon=horizon)
            if record.current is not None and leases.too_short(record.current, horizon):
                log.warning("lease_shorter_than_interval", credential=cred.name,
                            ttl=record.current.granted, interval=round(horizon, 1),
                            detail="the lease ends before the next cycle can renew it: "
                                   "raise the role's TTL or lower sync.interval")
        return record

    def _renew(self, cred: settings.Credential, record: leases.Record, now: float,
               horizon: float) -> tuple[leases.Record, leases.Step]:
        lease = record.current
        assert lease is not None
        overlap = cred.vault.overlap_seconds
        try:
            ttl, renewable = self.engine.renew(lease.lease_id, lease.granted)
        except VaultLeaseGone:
            log.warning("lease_gone", credential=cred.name, lease=tail(lease.lease_id))
            return leases.Record(retiring=record.retiring), "issue"
        except VaultError as exc:
            log.warning("lease_renew_failed", credential=cred.name, error=str(exc))
            left = lease.expires_at - (now + horizon)
            return record, ("reissue" if left <= overlap else "keep")
        lease = leases.renewed(lease, ttl=ttl, renewable=renewable, now=self._clock())
        record = leases.Record(current=lease, retiring=record.retiring)
        self._book.put(cred.name, record)
        log.info("lease_renewed", credential=cred.name, lease=tail(lease.lease_id), ttl=ttl,
                 final=lease.capped)
        step = leases.next_step(lease, self._clock(), horizon=horizon, overlap=overlap,
                                token_end=self._bound(record))
        return record, ("reissue" if step == "reissue" else "keep")

    def _issue(self, cred: settings.Credential, record: leases.Record, *, retire: bool,
               horizon: float) -> leases.Record:
        assert cred.vault.role is not None and cred.vault.mount is not None
        token = self.engine.token()
        if (token.final and token.end is not None
                and token.end - (self._clock() + horizon) <= cred.vault.overlap_seconds
                and self.engine.relogin()):
            # The new lease would die with this token: issue it under a fresh one.
            log.info("vault_relogin_for_lease", credential=cred.name)
        got = self.engine.issue(cred.vault.mount, cred.vault.role)
        token, now = self.engine.token(), self._clock()  # the token that issued it
        lease = leases.issued(got.lease_id, got.access_key, got.secret_key, ttl=got.ttl,
                              renewable=got.renewable, now=now, token_end=token.end,
                              token_gen=token.generation)
        new = leases.succeed(record, lease, retire=retire, now=now)
        self._book.put(cred.name, new)
        try:
            self._book.save()
        except KubeError as exc:
            # Nobody would find this lease after a restart: give it back at once.
            self._book.put(cred.name, record)
            if isinstance(exc, KubeConflict):
                self._book.forget()
            self._revoke_quietly(cred.name, got.lease_id)
            raise VaultError(f"{cred.vault.mount}/{cred.vault.path}: new lease revoked, the "
                             f"lease store could not record it ({exc})") from None
        log.info("lease_issued", credential=cred.name, lease=tail(lease.lease_id),
                 ttl=got.ttl, renewable=got.renewable, retiring=len(new.retiring))
        return new

    def _revoke_quietly(self, credential: str, lease_id: str) -> bool:
        try:
            self.engine.revoke(lease_id)
        except VaultError as exc:
            log.error("lease_revoke_failed", credential=credential, lease=tail(lease_id),
                      error=str(exc))
            return False
        log.info("lease_revoked", credential=credential, lease=tail(lease_id))
        return True

    # -- after the cycle ----------------------------------------------------------

    def settle(self, summary: Summary, pending: Iterable[Ref]) -> None:
        """Revoke retiring leases whose successor is in every target this cycle, with no
        consumer restart pending, once the credential's ``revokeAfter`` has passed."""
        if self._dry_run or summary.desired is None:
            return
        waiting = set(pending)
        failed = {e.credential for e in summary.errors}
        with self._work:
            if not self._book.loaded:
                return
            changed, now = False, self._clock()
            for name in sorted(self._served - failed):
                record = self._book.get(name)
                if not record.retiring:
                    continue
                if not _everywhere(name, summary, waiting):
                    continue
                after = self._revoke_after.get(name, 0.0)
                kept = tuple(r for r in record.retiring
                             if not (leases.may_revoke(r, now, revoke_after=after)
                                     and self._revoke_quietly(name, r.lease_id)))
                self._book.put(name, leases.Record(current=record.current, retiring=kept))
                changed = changed or kept != record.retiring
            if changed:
                self._book.save_quietly()  # revoked already: a restart finds them gone

    # -- static roles and what metrics show ------------------------------------------

    def saw_static(self, credential: str, data: VaultData) -> None:
        key = data.data.get("access_key")
        digest = key.sha if key is not None else ""
        with self._view:
            if self._static.get(credential, ("", 0.0))[0] != digest:
                self._static[credential] = (digest, self._clock())

    def snapshot(self) -> tuple[dict[str, float], dict[str, tuple[int, int]]]:
        """(credential -> key age in seconds, credential -> (current, retiring) leases)."""
        now = self._clock()
        with self._view:
            ages = {name: now - seen for name, (_, seen) in self._static.items()}
            counts: dict[str, tuple[int, int]] = {}
            for name, record in self._book.items():
                if name not in self._revoke_after:
                    continue  # in the store, but not an entry this process serves
                if record.current is not None:
                    ages[name] = now - record.current.issued_at
                counts[name] = (int(record.current is not None), len(record.retiring))
        return ages, counts


def _everywhere(credential: str, summary: Summary, waiting: set[Ref]) -> bool:
    """Every Secret carrying ``credential`` was written or confirmed this cycle, and no
    restart of its consumers is still pending."""
    assert summary.desired is not None
    mine = {ref for ref, d in summary.desired.rendered.secrets.items()
            if credential in d.credentials}
    outcomes = {(o.namespace, o.name): o.outcome for o in summary.objects
                if o.kind == "Secret"}
    return all(outcomes.get(ref) in CONFIRMED for ref in mine) and not (mine & waiting)
