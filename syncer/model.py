"""Plain data shared by render, diff and the adapters. Pure: no I/O.

Observed objects keep only what the diff needs - names, our metadata and a
digest per data key - never a secret value, so a cluster-wide list of
thousands of Secrets stays small and cannot leak.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from syncer.secretvalue import SecretValue

GROUP = "kserve-vault-sync"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "kserve-vault-sync"
SELECTOR = f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}"
# Which installation wrote an object (sync.instance): two in one cluster never
# prune or overwrite each other's objects. Absent means "default", the label is
# written only for other names, so objects from before the label stay ours.
INSTANCE_LABEL = f"{GROUP}/instance"
DEFAULT_INSTANCE = "default"

ANN_HASH = f"{GROUP}/data-hash"
ANN_SOURCE = f"{GROUP}/source"
ANN_MANAGED_KEYS = f"{GROUP}/managed-keys"
ANN_MANAGED_SECRETS = f"{GROUP}/managed-secrets"
ANN_MANAGED_PULL_SECRETS = f"{GROUP}/managed-pull-secrets"  # our imagePullSecrets entries
ANN_CREDENTIALS = f"{GROUP}/credentials"
ANN_SYNCED_AT = f"{GROUP}/synced-at"
# "object": we created it and own all of it; "keys": a shared object where we
# own only the keys (or ServiceAccount entries) listed in our annotation.
ANN_OWNERSHIP = f"{GROUP}/ownership"
KSERVE_PREFIX = "serving.kserve.io/"

Ref = tuple[str, str]  # (namespace, name)


@dataclass(frozen=True, slots=True)
class Namespace:
    """A cluster namespace as target selection needs it."""

    name: str
    labels: Mapping[str, str]
    terminating: bool = False


@dataclass(frozen=True, slots=True)
class KeyValue:
    """One Secret data key we want, and where its value came from."""

    value: SecretValue
    credential: str
    source: str  # mount/path@version


@dataclass(slots=True, kw_only=True)
class DesiredSecret:
    namespace: str
    name: str
    shared: bool  # owned key by key (storage-config) rather than as a whole object
    type: str = "Opaque"  # kubernetes.io/dockerconfigjson for an oci pull secret
    keys: dict[str, KeyValue] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)  # serving.kserve.io/* we set
    # Keys whose credential failed this cycle: left exactly as they are.
    # A shared empty frozenset until something is held: at 10,000 targets a set per
    # object (216 bytes each, nearly always empty) is megabytes of steady memory.
    held_keys: frozenset[str] = frozenset()
    adopt: bool = False
    credentials: set[str] = field(default_factory=set)
    rollout: bool = False  # restart consumers after a rotation (opt-in per target)
    instance: str = DEFAULT_INSTANCE

    @property
    def ref(self) -> Ref:
        return (self.namespace, self.name)


@dataclass(slots=True, kw_only=True)
class DesiredServiceAccount:
    namespace: str
    name: str
    secrets: set[str] = field(default_factory=set)
    held_secrets: frozenset[str] = frozenset()
    # imagePullSecrets (oci credentials): frozensets, as nearly every account has none.
    pull_secrets: frozenset[str] = frozenset()
    held_pull_secrets: frozenset[str] = frozenset()
    credentials: set[str] = field(default_factory=set)
    instance: str = DEFAULT_INSTANCE

    @property
    def ref(self) -> Ref:
        return (self.namespace, self.name)


@dataclass(frozen=True, slots=True, kw_only=True)
class ObservedSecret:
    namespace: str
    name: str
    uid: str
    resource_version: str
    type: str
    labels: dict[str, str]
    annotations: dict[str, str]  # ours and serving.kserve.io/* only
    key_digests: dict[str, str]  # data key -> digest of its value

    @property
    def managed(self) -> bool:
        return self.labels.get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE

    @property
    def owned_whole(self) -> bool:
        return self.managed and self.annotations.get(ANN_OWNERSHIP, "object") == "object"

    @property
    def managed_keys(self) -> set[str]:
        raw = self.annotations.get(ANN_MANAGED_KEYS, "")
        return {k for k in raw.split(",") if k}


@dataclass(frozen=True, slots=True, kw_only=True)
class ObservedServiceAccount:
    namespace: str
    name: str
    uid: str
    resource_version: str
    labels: dict[str, str]
    annotations: dict[str, str]
    secrets: tuple[str, ...]
    image_pull_secrets: tuple[str, ...] = ()

    @property
    def managed(self) -> bool:
        return self.labels.get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE

    @property
    def managed_secrets(self) -> set[str]:
        raw = self.annotations.get(ANN_MANAGED_SECRETS, "")
        return {k for k in raw.split(",") if k}

    @property
    def managed_pull_secrets(self) -> set[str]:
        raw = self.annotations.get(ANN_MANAGED_PULL_SECRETS, "")
        return {k for k in raw.split(",") if k}


@dataclass(frozen=True, slots=True, kw_only=True)
class VaultData:
    """One Vault path's keys as read this cycle."""

    mount: str
    path: str
    version: int | None  # KV v2 version; None on KV v1
    data: dict[str, SecretValue]
    created_time: str | None = None
    # Keys whose value is not a string (a number, a map): never written.
    non_string_keys: frozenset[str] = frozenset()

    @property
    def source(self) -> str:
        return f"{self.mount}/{self.path}" + (f"@{self.version}" if self.version else "")


@dataclass(frozen=True, slots=True)
class VaultFailure:
    """A Vault path that could not be read this cycle: the reason, never a value.

    Render holds every credential of that path, so its objects stay as they are."""

    reason: str


@dataclass(frozen=True, slots=True)
class EntryError:
    """A credential that could not be rendered this cycle, and why (never a value)."""

    credential: str
    reason: str
