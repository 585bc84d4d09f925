"""Where the syncer keeps its leased AWS keys between runs: one Secret in its
own namespace (``kserve-vault-sync-leases``, suffixed per ``sync.instance``),
one data key per credential with the lease IDs and the current key.

Why the key too: a restart that finds a live lease reuses it, instead of
issuing a new key and rotating (and, with rollout: true, restarting) every
consumer. The Secret holds one more copy of a key the targets already hold,
in the syncer's own namespace.

It carries no managed-by label on purpose: it is not a target, so the cycle's
lists, prune and drift repair never see it. Writes replace it as of the
resourceVersion read last, so two writers (a daemon and a ``once``) cannot both
believe they hold a credential's lease: the second gets a conflict.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Mapping
from typing import Any, Protocol

import structlog

from syncer import leases
from syncer.errors import KubeConflict, KubeError
from syncer.model import DEFAULT_INSTANCE, GROUP
from syncer.secretvalue import SecretValue

log = structlog.get_logger(__name__)
BASE_NAME = "kserve-vault-sync-leases"
# Not app.kubernetes.io/managed-by: that label makes an object a sync target.
STATE_LABEL = f"{GROUP}/state"


class StateSecretAPI(Protocol):
    def get_state_secret(self, namespace: str, name: str) -> dict[str, Any] | None: ...
    def put_state_secret(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]: ...


def store_name(instance: str = DEFAULT_INSTANCE) -> str:
    return BASE_NAME + ("" if instance == DEFAULT_INSTANCE else f"-{instance}")


class LeaseStore:
    def __init__(self, api: StateSecretAPI, *, namespace: str,
                 instance: str = DEFAULT_INSTANCE) -> None:
        self._api = api
        self.namespace = namespace
        self.name = store_name(instance)
        self._version = ""  # resourceVersion read or written last; "" = not there

    def __repr__(self) -> str:
        return f"LeaseStore({self.namespace}/{self.name})"

    def load(self) -> dict[str, leases.Record]:
        """Every credential's record. A record that does not parse is dropped with a
        warning: its leases end at their TTL, unrenewed."""
        found = self._api.get_state_secret(self.namespace, self.name)
        self._version = str(((found or {}).get("metadata") or {}).get("resourceVersion") or "")
        records: dict[str, leases.Record] = {}
        for credential, encoded in ((found or {}).get("data") or {}).items():
            try:
                text = SecretValue(base64.b64decode(str(encoded), validate=True).decode())
                records[credential] = leases.load(text)
            except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
                log.warning("lease_record_unreadable", store=self.name, credential=credential,
                            error=type(exc).__name__)
        return records

    def save(self, records: Mapping[str, leases.Record]) -> None:
        """Write every non-empty record; KubeConflict if the Secret changed since read."""
        metadata: dict[str, Any] = {"name": self.name, "namespace": self.namespace,
                                    "labels": {STATE_LABEL: "leases"}}
        if self._version:
            metadata["resourceVersion"] = self._version
        body = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": metadata,
                "data": {name: leases.dump(record)
                         for name, record in sorted(records.items()) if not record.empty}}
        written = self._api.put_state_secret(self.namespace, body)
        self._version = str((written.get("metadata") or {}).get("resourceVersion") or "")


class LeaseBook:
    """The records in memory: read from the store on first use, written back whole,
    dropped (to be read again) when another writer got there first."""

    def __init__(self, store: LeaseStore | None) -> None:
        self._store = store
        self._lock = threading.Lock()  # metrics read while a cycle writes
        self._records: dict[str, leases.Record] | None = None
        self.checked: set[str] = set()  # credentials whose leases were looked up since

    @property
    def loaded(self) -> bool:
        return self._records is not None

    def load(self) -> None:
        """Read the store if not yet read; KubeError if it cannot be."""
        if self._records is None:
            loaded = self._store.load() if self._store is not None else {}
            with self._lock:
                self._records = loaded

    def get(self, name: str) -> leases.Record:
        with self._lock:
            return (self._records or {}).get(name, leases.Record())

    def put(self, name: str, record: leases.Record) -> None:
        with self._lock:
            assert self._records is not None, "load() first"
            self._records[name] = record

    def items(self) -> list[tuple[str, leases.Record]]:
        with self._lock:
            return sorted((self._records or {}).items())

    def save(self) -> None:
        """Write every record; KubeConflict if the store changed since read."""
        if self._store is not None and self._records is not None:
            self._store.save(dict(self.items()))

    def save_quietly(self) -> None:
        """Save, or log why not (what is in memory is written with the next change)."""
        try:
            self.save()
        except KubeError as exc:
            log.warning("lease_store_write_failed", error=str(exc))
            if isinstance(exc, KubeConflict):
                self.forget()  # someone else wrote: read it again next time

    def forget(self) -> None:
        with self._lock:
            self._records, self.checked = None, set()
