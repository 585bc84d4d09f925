"""What the watches know of our objects: the cycle's view of the cluster while
they are healthy, so a no-op cycle lists nothing.

Filled by a full list when a watch (re)starts and kept up to date by its
events; a kind whose watch broke is not trusted until it has listed again.
The cycle still lists on its own when the cache is not ready for both kinds,
after a cycle that wrote (its writes' events may not have arrived yet), and
every ``FULL_LIST_EVERY`` cycles as a safety net.
"""

from __future__ import annotations

import threading
from typing import Any

from syncer.model import ObservedSecret, ObservedServiceAccount, Ref

FULL_LIST_EVERY = 10
KINDS = ("Secret", "ServiceAccount")


class WatchCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tables: dict[str, dict[Ref, Any]] = {kind: {} for kind in KINDS}
        self._ready = dict.fromkeys(KINDS, False)

    def reset(self, kind: str, items: dict[Ref, Any]) -> None:
        """A full list of ``kind`` (the watch starts from its version)."""
        with self._lock:
            self._tables[kind] = dict(items)
            self._ready[kind] = True

    def apply(self, kind: str, event_type: str, obj: Any) -> None:
        """One watch event: an object of ours added, changed, deleted (or no longer ours)."""
        with self._lock:
            if not self._ready[kind]:
                return
            ref = (obj.namespace, obj.name)
            if event_type == "DELETED" or not obj.managed:
                self._tables[kind].pop(ref, None)
            else:
                self._tables[kind][ref] = obj

    def lost(self, kind: str) -> None:
        """The watch of ``kind`` broke: events may be missed until it lists again."""
        with self._lock:
            self._ready[kind] = False

    def snapshot(self) -> tuple[dict[Ref, ObservedSecret],
                                dict[Ref, ObservedServiceAccount]] | None:
        """Copies of both tables, or None unless both watches are healthy."""
        with self._lock:
            if not all(self._ready.values()):
                return None
            return dict(self._tables["Secret"]), dict(self._tables["ServiceAccount"])
