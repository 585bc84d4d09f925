"""The mapping config: a validated, immutable model.

Pure: it validates data handed to it and never touches files, Vault or the
cluster (``syncer.loader`` reads and parses the file). Every error names the
entry and field the way a user reads the YAML
(``credentials[1].targets[0].serviceAcount: unknown field``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from syncer import overlap
from syncer.fields import (
    DNS1123_LABEL,
    Duration,
    Fraction,
    Model,
    NamespaceName,
    ObjectName,
    SecretKeyName,
    check,
)

# The Vault side of the config lives in vaultconfig.py; these names stay importable here.
from syncer.vaultconfig import AuthSettings, KVSettings, VaultSettings, VaultSource

__all__ = ["AuthSettings", "Config", "Credential", "KVSettings", "VaultSettings", "VaultSource"]

# Logical Vault keys each credential type needs (``vault.keys``), and the
# KServe Secret data key each one becomes. Verified against KServe aaac4e294:
# pkg/credentials/s3/s3_secret.go, hf/hf_secret.go, gcs/gcs_secret.go,
# azure/azure_secret.go.
AZURE_KEYS = {
    "clientId": "AZURE_CLIENT_ID",
    "clientSecret": "AZURE_CLIENT_SECRET",
    "tenantId": "AZURE_TENANT_ID",
    "subscriptionId": "AZURE_SUBSCRIPTION_ID",
    "storageAccessKey": "AZURE_STORAGE_ACCESS_KEY",
    "accessToken": "AZURE_ACCESS_TOKEN",
}
# Azure is valid in one of three shapes (KServe's BuildSecretEnvs and
# BuildStorageAccessKeySecretEnv): a service principal, an account key, or a token.
AZURE_SHAPES: tuple[tuple[frozenset[str], frozenset[str]], ...] = (
    (frozenset({"clientId", "clientSecret", "tenantId"}), frozenset({"subscriptionId"})),
    (frozenset({"storageAccessKey"}), frozenset()),
    (frozenset({"accessToken", "tenantId"}), frozenset()),
)
REQUIRED_KEYS: dict[str, frozenset[str]] = {
    "s3": frozenset({"accessKeyId", "secretAccessKey"}),
    "hf": frozenset({"token"}),
    "gcs": frozenset({"credentials"}),
}



MIN_INTERVAL = 1.0  # every cycle reads Vault and lists the cluster


class SyncSettings(Model):
    interval: Duration = 60.0
    jitter: Fraction = 0.1
    # Off by default: deleting an entry from the config leaves what it wrote.
    prune: bool = False
    # A prune that would remove more than this share of the objects we own is
    # refused until confirmed (`once --prune-confirm`, or a higher limit here),
    # unless it removes only what one deleted entry wrote: a typo in a selector
    # must not wipe the fleet.
    prune_max_fraction: Fraction = 0.1
    # Concurrent Kubernetes writes; also the HTTP connection pool size.
    concurrency: int = Field(default=8, ge=1, le=64)
    # List (and so need RBAC) only in target namespaces instead of cluster-wide:
    # grant RoleBindings per namespace (manifests/namespaced). The watch is then
    # off and drift is repaired each interval.
    namespace_scoped: bool = False
    # Restarts of consumers (targets with rollout: true), across all namespaces.
    rollouts_per_minute: int = Field(default=10, ge=1, le=600)
    # The name of this installation. Two syncers in one cluster (two teams, two
    # Helm releases) need different names: each then sees only its own objects,
    # so neither prunes nor overwrites the other's. Objects written before this
    # setting existed belong to "default". Renaming orphans what was written.
    instance: Annotated[str, check(DNS1123_LABEL, "instance name (RFC 1123 label)", 63)] = (
        "default")

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: float) -> float:
        if value < MIN_INTERVAL:
            raise ValueError(f"must be at least {MIN_INTERVAL:g}s (each cycle reads Vault and "
                             "lists the cluster)")
        return value


class KServeSettings(Model):
    """Names KServe's ``inferenceservice-config`` may override (credentials section)."""

    s3_access_key_id_name: SecretKeyName = Field("AWS_ACCESS_KEY_ID", alias="s3AccessKeyIDName")
    s3_secret_access_key_name: SecretKeyName = "AWS_SECRET_ACCESS_KEY"
    gcs_credential_file_name: SecretKeyName = "gcloud-application-credentials.json"
    storage_spec_secret_name: ObjectName = "storage-config"


class S3Options(Model):
    """The ``serving.kserve.io/s3-*`` annotations (pkg/credentials/s3/s3_secret.go)."""

    endpoint: str | None = None
    use_https: bool | None = None
    verify_ssl: bool | None = None
    region: str | None = None
    use_anonymous_credential: bool | None = None
    use_virtual_bucket: bool | None = None
    use_accelerate: bool | None = None
    ca_bundle: str | None = None
    ca_bundle_config_map: ObjectName | None = Field(None, alias="caBundleConfigMap")

    @model_validator(mode="before")
    @classmethod
    def _split_scheme(cls, data: Any) -> Any:
        # KServe before 0.17 builds "https://" + endpoint, so a scheme in the
        # annotation breaks older clusters: store host[:port] and carry the
        # scheme as useHttps instead.
        if isinstance(data, dict) and isinstance(data.get("endpoint"), str):
            endpoint = data["endpoint"].strip()
            match = re.match(r"^(https?)://", endpoint, re.I)
            if match:
                https = match.group(1).lower() == "https"
                if data.get("useHttps") is not None and data.get("useHttps") != https:
                    raise ValueError(f"endpoint: scheme {match.group(1)}:// contradicts "
                                     f"useHttps: {data.get('useHttps')}")
                data = {**data, "endpoint": endpoint[match.end():], "useHttps": https}
            if not data["endpoint"] or "/" in data["endpoint"].rstrip("/"):
                raise ValueError(f"endpoint: {data['endpoint']!r} must be host[:port]")
            data = {**data, "endpoint": data["endpoint"].rstrip("/")}
        return data


class StorageConfigTarget(Model):
    """An entry in KServe's centralized storage-spec Secret (``storage-config``)."""

    key: SecretKeyName
    bucket: str | None = None
    default: bool = False  # also write the entry under the `default` and `default_s3` keys
    secret_name: ObjectName | None = None  # default: kserve.storageSpecSecretName


class NamespaceSelector(Model):
    match_labels: dict[str, str] = Field(min_length=1)


class Target(Model):
    namespaces: list[NamespaceName] = Field(default_factory=list)
    namespace_selector: NamespaceSelector | None = None
    secret: ObjectName | None = None
    service_account: ObjectName | None = None
    storage_config: StorageConfigTarget | None = None
    # Take over an object (or a storage-config key) that we did not create.
    adopt: bool = False
    # After a rotation changes this target's Secret, restart the Deployments and
    # InferenceServices that use it (KServe reads credentials only at pod start).
    rollout: bool = False

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


class Credential(Model):
    name: Annotated[str, check(DNS1123_LABEL, "name (RFC 1123 label)", 63)]
    type: Literal["s3", "hf", "gcs", "azure"]
    vault: VaultSource
    s3: S3Options | None = None
    targets: list[Target] = Field(min_length=1)

    @model_validator(mode="after")
    def _keys_for_type(self) -> Credential:
        if self.vault.engine == "aws" and self.type != "s3":
            raise ValueError("vault.engine: aws gives S3 access keys: only for type s3")
        given = set(self.vault.keys)
        if self.type == "azure":
            unknown = given - set(AZURE_KEYS)
            if unknown:
                raise ValueError(f"vault.keys: unknown key(s) for azure: {sorted(unknown)}; "
                                 f"expected from {sorted(AZURE_KEYS)}")
            if not any(req <= given <= req | opt for req, opt in AZURE_SHAPES):
                raise ValueError("vault.keys: azure needs clientId+clientSecret+tenantId "
                                 "(+subscriptionId), or storageAccessKey, or accessToken+tenantId")
        else:
            required = REQUIRED_KEYS[self.type]
            if given != required:
                lacking, extra = sorted(required - given), sorted(given - required)
                raise ValueError(f"vault.keys: {self.type} needs exactly {sorted(required)}"
                                 + (f", missing {lacking}" if lacking else "")
                                 + (f", unknown {extra}" if extra else ""))
        for logical, vault_key in self.vault.keys.items():
            if not vault_key:
                raise ValueError(f"vault.keys.{logical}: empty Vault key name")
        if self.s3 is not None and self.type != "s3":
            raise ValueError("s3: only for type s3")
        for i, target in enumerate(self.targets):
            if target.storage_config and self.type != "s3":
                raise ValueError(f"targets[{i}].storageConfig: only type s3 has a storage spec "
                                 "entry (KServe supports s3, hdfs, webhdfs there)")
        return self


class Config(Model):
    vault: VaultSettings
    sync: SyncSettings = Field(default_factory=SyncSettings)
    kserve: KServeSettings = Field(default_factory=KServeSettings)
    credentials: list[Credential] = Field(min_length=1)

    @model_validator(mode="after")
    def _cross_entry(self) -> Config:
        errors = cross_entry_errors(list(enumerate(self.credentials)), self.kserve)
        if errors:
            raise ValueError("; ".join(errors))
        return self

    def storage_secret_name(self, target: Target) -> str:
        assert target.storage_config is not None
        return target.storage_config.secret_name or self.kserve.storage_spec_secret_name


def cross_entry_errors(entries: list[tuple[int, Credential]], kserve: KServeSettings
                       ) -> list[str]:
    """Duplicate names and collisions between entries (``credentials[i]`` as in the file)."""
    errors: list[str] = []
    seen: dict[str, int] = {}
    for i, cred in entries:
        if cred.name in seen:
            errors.append(f"credentials[{i}].name: {cred.name!r} already used by "
                          f"credentials[{seen[cred.name]}]")
        seen.setdefault(cred.name, i)
    # One lease per credential: two entries on one dynamic role would each hold a key
    # of the same role; one entry with several targets is the way to share it.
    leased: dict[tuple[str | None, str], int] = {}
    for i, cred in entries:
        if cred.vault.dynamic:
            where = (cred.vault.mount, cred.vault.path)
            if where in leased:
                errors.append(f"credentials[{i}].vault.role: {cred.vault.mount}/"
                              f"{cred.vault.path} already used by credentials[{leased[where]}]"
                              "; give that entry more targets instead")
            leased.setdefault(where, i)
    return errors + overlap.collisions(entries, kserve)


def warnings(config: Config) -> list[str]:
    """Valid but risky settings, worth saying at start-up and in ``validate``."""
    out: list[str] = []
    address = config.vault.address
    host = address.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
    if address.startswith("http://") and host not in ("127.0.0.1", "localhost", "::1"):
        out.append(f"vault.address: {address} is plain http outside loopback: tokens and "
                   "credentials cross the network unencrypted")
    if config.sync.prune and config.sync.prune_max_fraction >= 1:
        out.append("sync.pruneMaxFraction: 100% turns off the guard against a prune that "
                   "removes everything we own")
    return out
