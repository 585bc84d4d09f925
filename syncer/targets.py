"""Where a credential goes in the cluster: namespaces, the Secret, the
ServiceAccount that lists it, the entry in KServe's storage-spec Secret.

Pure: validation only. Errors name the field as the YAML spells it.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from syncer.fields import Model, NamespaceName, ObjectName, SecretKeyName


class StorageConfigTarget(Model):
    """An entry in KServe's centralized storage-spec Secret (``storage-config``)."""

    key: SecretKeyName
    """The entry's key: an InferenceService selects it with ``storage.key``."""
    bucket: str | None = None
    """Bucket written into the entry (``storage.path`` is then relative to it)."""
    default: bool = False
    """Also write the entry under ``default`` and ``default_s3`` (used when an
    InferenceService names no key)."""
    secret_name: ObjectName | None = None
    """The storage-spec Secret to write; default ``kserve.storageSpecSecretName``."""


class NamespaceSelector(Model):
    match_labels: dict[str, str] = Field(min_length=1)
    """Every (non-terminating) namespace carrying all these labels."""


class Target(Model):
    namespaces: list[NamespaceName] = Field(default_factory=list)
    """Namespaces to write to (exactly one of this or ``namespaceSelector``)."""
    namespace_selector: NamespaceSelector | None = None
    """Write to every namespace these labels select."""
    secret: ObjectName | None = None
    """A per-backend Secret KServe reads through a ServiceAccount (or by name)."""
    service_account: ObjectName | None = None
    """A ServiceAccount whose ``secrets`` list gets ``secret`` (for type oci: its
    ``imagePullSecrets``), created if missing; other entries are kept."""
    storage_config: StorageConfigTarget | None = None
    """An entry in KServe's storage-spec Secret (s3 only)."""
    adopt: bool = False
    """Take over an object (or a storage-config key) that we did not create."""
    rollout: bool = False
    """After a rotation changes this target's Secret, restart the Deployments and
    InferenceServices that use it (KServe reads credentials only at pod start)."""

    @model_validator(mode="after")
    def _shape(self) -> Target:
        if bool(self.namespaces) == bool(self.namespace_selector):
            raise ValueError("set exactly one of namespaces or namespaceSelector")
        if len(set(self.namespaces)) != len(self.namespaces):
            raise ValueError("namespaces: listed twice")
        if not self.secret and not self.storage_config:
            raise ValueError("set secret, storageConfig, or both")
        if self.service_account and not self.secret:
            raise ValueError("serviceAccount: needs secret (the Secret to list in it)")
        return self
