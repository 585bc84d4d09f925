"""The lease lifecycle as pure decisions, and its record format."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncer import leases
from syncer.secretvalue import SecretValue


def lease(*, granted: float = 60, expires_at: float = 160, capped: bool = False) -> leases.Lease:
    return leases.Lease(lease_id="aws/creds/r/abc", access_key=SecretValue("AKIAEXAMPLE"),
                        secret_key=SecretValue("s3cr3t-value"), issued_at=100, granted=granted,
                        expires_at=expires_at, capped=capped)


@pytest.mark.parametrize(("current", "now", "step"), [
    (None, 100, "issue"),
    (lease(expires_at=160), 160, "issue"),  # ended
    (lease(expires_at=160), 100, "keep"),  # 55 s left at the next cycle, a third is 20
    (lease(expires_at=160), 136, "renew"),  # 19 s left at the next cycle
    (lease(expires_at=160, capped=True), 136, "keep"),  # final, but not within the overlap
    (lease(expires_at=160, capped=True), 146, "reissue"),  # 9 s left at the next cycle
])
def test_next_step(current: leases.Lease | None, now: float, step: str) -> None:
    assert leases.next_step(current, now, horizon=5, overlap=10) == step


def test_a_short_grant_is_final_from_the_start_when_not_renewable() -> None:
    issued = leases.issued("id", SecretValue("a"), SecretValue("b"), ttl=30, renewable=False,
                           now=0)
    assert issued.capped and issued.expires_at == 30


def test_renewal_that_grants_less_than_asked_has_met_the_max_ttl() -> None:
    full = leases.renewed(lease(), ttl=60, renewable=True, now=140)
    assert (full.expires_at, full.capped) == (200, False)
    cut = leases.renewed(lease(), ttl=25, renewable=True, now=140)
    assert (cut.expires_at, cut.capped) == (165, True)
    assert leases.renewed(lease(), ttl=60, renewable=False, now=140).capped


def test_succession_retires_only_a_live_lease_and_revocation_waits() -> None:
    old, new = lease(expires_at=160), lease(expires_at=300)
    record = leases.succeed(leases.Record(current=old), new, retire=True, now=150)
    assert record.current is new and record.retiring == (
        leases.Retiring(old.lease_id, 160, since=150),)
    assert leases.succeed(leases.Record(current=old), new, retire=True, now=170).retiring == ()
    assert leases.succeed(leases.Record(current=old), new, retire=False, now=150).retiring == ()
    [retiring] = record.retiring
    assert not leases.may_revoke(retiring, 159, revoke_after=10)
    assert leases.may_revoke(retiring, 160, revoke_after=10)
    assert leases.without_ended(record, 161).retiring == ()
    assert leases.without_ended(record, 159) is record


def test_record_round_trip_and_malformed_records() -> None:
    record = leases.Record(current=lease(capped=True),
                           retiring=(leases.Retiring("old", 150.5, since=140),))
    text = leases.dump(record)
    assert "s3cr3t-value" not in repr(text) and "s3cr3t-value" in text.reveal()
    back = leases.load(text)
    assert back.current is not None and back.current.secret_key == SecretValue("s3cr3t-value")
    # Whether the lease was capped is not stored: a lookup after a restart tells.
    assert back.retiring == record.retiring and not back.current.capped
    for bad in ("{", "[]", '{"current": {"leaseId": "x"}}',
                '{"current": {"leaseId": "", "accessKey": "a", "secretKey": "b", '
                '"issuedAt": 1, "granted": 1, "expiresAt": 1}}',
                '{"retiring": [{"leaseId": "x"}]}'):
        with pytest.raises(ValueError, match="malformed lease record") as err:
            leases.load(SecretValue(bad))
        assert "s3cr3t" not in str(err.value)


@given(granted=st.floats(1, 1e6), max_left=st.floats(0, 1e6), now=st.floats(0, 1e6),
       horizon=st.floats(0.5, 600), overlap=st.floats(1, 1e5))
def test_a_renewable_lease_is_renewed_or_reissued_before_it_ends(
        granted: float, max_left: float, now: float, horizon: float, overlap: float) -> None:
    """Whenever a lease would end before the next chance to act, the step is not keep."""
    current = lease(granted=granted, expires_at=now + max_left, capped=max_left < granted)
    step = leases.next_step(current, now, horizon=horizon, overlap=overlap)
    if current.expires_at <= now + horizon:
        assert step != "keep"
