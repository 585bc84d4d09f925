"""Plan a prune (``sync.prune: true``): what we own and no entry wants, in a safe
order, behind a guard against removing a large share of the fleet at once. Pure.

Order: a ServiceAccount entry is removed (and the removal must succeed) before
the Secret it names is deleted - KServe's pod webhook rejects a pod whose
ServiceAccount lists a Secret that does not exist, so the other order breaks
every pod created in between. The order alone is not enough: the webhook reads
the ServiceAccount and then each Secret from informer caches, which trail the
API server and each other, so a pod admitted just as both writes land can
still be refused (seen under load with KServe v0.17.0). A Secret that a
ServiceAccount listed when the cycle began is therefore deleted
``UNLIST_GRACE`` seconds after the last ServiceAccount stopped listing it, and
not at all while one still does (a failed write, or an entry that is not ours).

Guard: a typo in a namespaceSelector or a target list makes everything look
unwanted. A prune that would touch more than ``sync.pruneMaxFraction`` of the
objects we own is refused until confirmed, unless everything it removes was
written by one single entry that is no longer in the config (a deliberate
removal of one entry).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from syncer import diff, render
from syncer.model import (
    ANN_CREDENTIALS,
    ObservedSecret,
    ObservedServiceAccount,
    Ref,
)

UNLIST_GRACE = 5.0  # seconds between unlisting a Secret and deleting it (see above)


class Listed(NamedTuple):
    """A Secret removal that waits for the ServiceAccounts listing the Secret."""

    action: diff.Action
    by: frozenset[Ref]


@dataclass
class Plan:
    accounts: list[diff.Action] = field(default_factory=list)  # first: ServiceAccount writes
    secrets: list[diff.Action] = field(default_factory=list)  # listed by no ServiceAccount
    listed: list[Listed] = field(default_factory=list)  # after their accounts, and a grace
    # Shared Secrets (storage-config) still wanted but holding keys no entry wants:
    # the cycle's Secret phase removes those keys, counted here for the guard.
    shared_with_stale_keys: int = 0
    owned: int = 0  # objects we own now: the guard's denominator
    refused: str | None = None  # why this prune waits for confirmation

    @property
    def size(self) -> int:
        return (len(self.accounts) + len(self.secrets) + len(self.listed)
                + self.shared_with_stale_keys)


def _credentials(obs: ObservedSecret) -> set[str]:
    return {c for c in obs.annotations.get(ANN_CREDENTIALS, "").split(",") if c}


def plan(rendered: render.Rendered, secrets: dict[Ref, ObservedSecret],
         accounts: dict[Ref, ObservedServiceAccount], *, configured: set[str],
         max_fraction: float, confirmed: bool = False) -> Plan:
    """What a prune would do now. ``configured``: every credential name in the config."""
    out = Plan(owned=sum(1 for s in secrets.values() if s.managed)
               + sum(1 for a in accounts.values() if a.managed))
    removed: set[str] = set()  # deleted entries whose objects or keys would go
    touches_configured = False  # would remove something an entry still configured wrote
    listing = _listing_accounts(accounts)
    for ref, obs in sorted(secrets.items()):
        if ref in rendered.secrets:
            continue
        action = diff.prune_secret(obs)
        if action:
            if ref in listing:
                out.listed.append(Listed(action, frozenset(listing[ref])))
            else:
                out.secrets.append(action)
            writers = _credentials(obs)
            gone = writers - configured
            removed |= gone
            # A whole Secret goes with all its writers; from a shared one only the
            # keys of entries no longer configured (the others keep theirs).
            touches_configured |= (bool(writers & configured) if obs.owned_whole
                                   else not gone)
    for ref, shared in rendered.secrets.items():
        seen = secrets.get(ref)
        if not (shared.shared and seen is not None and seen.managed):
            continue
        if (seen.managed_keys - set(shared.keys) - shared.held_keys) & set(seen.key_digests):
            out.shared_with_stale_keys += 1
            gone = _credentials(seen) - shared.credentials - configured
            removed |= gone
            touches_configured |= not gone
    for ref, sa in sorted(accounts.items()):
        want = rendered.service_accounts.get(ref)
        keep = (want.secrets | want.held_secrets) if want else set()
        keep_pull = (want.pull_secrets | want.held_pull_secrets) if want else frozenset()
        sa_action = diff.prune_service_account(sa, keep, keep_pull)
        if sa_action:
            out.accounts.append(sa_action)
    if confirmed or not out.size or out.size <= max_fraction * out.owned:
        return out
    if len(removed) == 1 and not touches_configured:
        return out  # one entry deleted from the config on purpose
    out.refused = (f"prune would remove {out.size} of the {out.owned} objects we own "
                   f"({out.size / max(out.owned, 1):.0%}), more than sync.pruneMaxFraction "
                   f"({max_fraction:.0%}); if this is intended, run `once --prune-confirm` "
                   "or raise the limit")
    return out


def _listing_accounts(accounts: dict[Ref, ObservedServiceAccount]) -> dict[Ref, set[Ref]]:
    """Each Secret the ServiceAccounts list (``secrets`` or ``imagePullSecrets``, our
    entries or not) -> the accounts listing it."""
    out: dict[Ref, set[Ref]] = {}
    for ref, sa in accounts.items():
        for name in (*sa.secrets, *sa.image_pull_secrets):
            out.setdefault((sa.namespace, name), set()).add(ref)
    return out


def unlisted(plan_: Plan, changed_accounts: set[Ref]) -> tuple[list[diff.Action], list[Listed]]:
    """Once the ServiceAccount steps ran: the listed Secrets that may now go (every
    account listing them was written), and those still listed by an account whose
    write failed or that no step changes."""
    go, stay = [], []
    for item in plan_.listed:
        (go.append(item.action) if item.by <= changed_accounts else stay.append(item))
    return go, stay
