"""Drift repair between cycles: put one object back to what the last cycle wanted.

The watch hands us the object it saw change, so repair diffs it against the
last desired state without a GET. Only what differs is written, so the events
of our own writes end here as no-ops and there is no write loop.
"""

from __future__ import annotations

from typing import Any

from syncer import diff
from syncer.model import Ref
from syncer.outcome import DesiredState, ObjectResult
from syncer.ports import KubePort
from syncer.writer import Fence, Writer, open_fence, stamp


def merge_partial(last: DesiredState, partial: DesiredState) -> None:
    """Fold an ``--only`` cycle's desired state into the last full one, so drift
    repair restores the new values rather than the ones they replaced."""
    for ref, secret in partial.rendered.secrets.items():
        old = last.rendered.secrets.get(ref)
        if old is None or not secret.shared:
            last.rendered.secrets[ref] = secret
            continue
        old.keys.update(secret.keys)  # shared: only the keys of the credentials re-read
        old.held_keys -= set(secret.keys)
        old.credentials |= secret.credentials
    for ref, account in partial.rendered.service_accounts.items():
        known = last.rendered.service_accounts.setdefault(ref, account)
        if known is not account:
            known.secrets |= account.secrets
            known.pull_secrets |= account.pull_secrets
    last.available |= partial.available


def repair(kube: KubePort, last: DesiredState, kind: str, ref: Ref, observed: Any, *,
           fence: Fence = open_fence) -> list[ObjectResult]:
    """Bring one object back to what the last cycle wanted (a watch saw it change)."""
    rendered = last.rendered
    writer = Writer(kube, 1, fence)
    now = stamp()
    if kind == "Secret":
        secret = rendered.secrets.get(ref)
        if secret is None:
            return []
        results = writer.apply_all(
            [(secret, observed)], lambda d, o: diff.diff_secret(d, o, now=now),
            lambda d: kube.get_secret(d.namespace, d.name))
    else:
        account = rendered.service_accounts.get(ref)
        if account is None:
            return []
        allowed = {n for (ns, n) in last.available if ns == ref[0]}
        results = writer.apply_all(
            [(account, observed)],
            lambda d, o: diff.diff_service_account(d, o, available=allowed),
            lambda d: kube.get_service_account(d.namespace, d.name))
    return [r for r in results if r.outcome not in ("unchanged", "held")]
