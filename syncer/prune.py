"""Plan a prune (``sync.prune: true``): what we own and no entry wants, in a safe
order, behind a guard against removing a large share of the fleet at once. Pure.

Order: a ServiceAccount entry is removed (and the removal must succeed) before
the Secret it names is deleted - KServe's pod webhook rejects a pod whose
ServiceAccount lists a Secret that does not exist, so the other order breaks
every pod created in between.

Guard: a typo in a namespaceSelector or a target list makes everything look
unwanted. A prune that would touch more than ``sync.pruneMaxFraction`` of the
objects we own is refused until confirmed, unless everything it removes was
written by one single entry that is no longer in the config (a deliberate
removal of one entry).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from syncer import diff, render
from syncer.model import (
    ANN_CREDENTIALS,
    ObservedSecret,
    ObservedServiceAccount,
    Ref,
)


@dataclass(frozen=True)
class AccountStep:
    """One ServiceAccount write, and the Secrets it stops listing."""

    action: diff.Action
    unlisted: frozenset[Ref]


@dataclass
class Plan:
    accounts: list[AccountStep] = field(default_factory=list)  # first
    secrets: list[diff.Action] = field(default_factory=list)  # after their accounts
    # Shared Secrets (storage-config) still wanted but holding keys no entry wants:
    # the cycle's Secret phase removes those keys, counted here for the guard.
    shared_with_stale_keys: int = 0
    owned: int = 0  # objects we own now: the guard's denominator
    refused: str | None = None  # why this prune waits for confirmation

    @property
    def size(self) -> int:
        return len(self.accounts) + len(self.secrets) + self.shared_with_stale_keys


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
    for ref, obs in sorted(secrets.items()):
        if ref in rendered.secrets:
            continue
        action = diff.prune_secret(obs)
        if action:
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
            stale = frozenset((sa.namespace, s) for s in (sa.managed_secrets - keep)
                              | (sa.managed_pull_secrets - keep_pull))
            out.accounts.append(AccountStep(sa_action, stale))
    if confirmed or not out.size or out.size <= max_fraction * out.owned:
        return out
    if len(removed) == 1 and not touches_configured:
        return out  # one entry deleted from the config on purpose
    out.refused = (f"prune would remove {out.size} of the {out.owned} objects we own "
                   f"({out.size / max(out.owned, 1):.0%}), more than sync.pruneMaxFraction "
                   f"({max_fraction:.0%}); if this is intended, run `once --prune-confirm` "
                   "or raise the limit")
    return out


def secrets_after(plan_: Plan, failed_accounts: set[Ref]) -> list[diff.Action]:
    """The Secret removals that may run once the ServiceAccount steps are done:
    none whose name a ServiceAccount still lists because its step failed."""
    still_listed = {ref for step in plan_.accounts
                    if (step.action.namespace, step.action.name) in failed_accounts
                    for ref in step.unlisted}
    return [a for a in plan_.secrets if (a.namespace, a.name) not in still_listed]
