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

from syncer import options, overlap
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

# The Vault side of the config lives in vaultconfig.py, the targets in targets.py;
# their names stay importable here.
from syncer.targets import NamespaceSelector, StorageConfigTarget, Target
from syncer.vaultconfig import AuthSettings, KVSettings, VaultSettings, VaultSource

__all__ = ["AuthSettings", "Config", "Credential", "KVSettings", "NamespaceSelector",
           "StorageConfigTarget", "Target", "VaultSettings", "VaultSource"]

# Logical Vault keys each credential type needs (``vault.keys``), and the
# KServe Secret data key each one becomes. Verified against KServe v0.17.0:
# pkg/credentials/s3/s3_secret.go, hf/hf_secret.go, gcs/gcs_secret.go,
# azure/azure_secret.go.
AZURE_KEYS = {
    "clientId": "AZURE_CLIENT_ID",
    "clientSecret": "AZURE_CLIENT_SECRET",
    "tenantId": "AZURE_TENANT_ID",
    "subscriptionId": "AZURE_SUBSCRIPTION_ID",
    "storageAccessKey": "AZURE_STORAGE_ACCESS_KEY",
}
# Azure is valid in one of two shapes, the ones KServe's storage initializer
# (python/storage/kserve_storage, v0.17.0) reads: a service principal or an
# account key. The webhook also passes AZURE_ACCESS_TOKEN along, but nothing in
# kserve-storage reads it: a token-only credential would download nothing.
AZURE_SHAPES: tuple[tuple[frozenset[str], frozenset[str]], ...] = (
    (frozenset({"clientId", "clientSecret", "tenantId"}), frozenset({"subscriptionId"})),
    (frozenset({"storageAccessKey"}), frozenset()),
)
REQUIRED_KEYS: dict[str, frozenset[str]] = {
    "s3": frozenset({"accessKeyId", "secretAccessKey"}),
    "hf": frozenset({"token"}),
    "gcs": frozenset({"credentials"}),
}

MIN_INTERVAL = 1.0  # every cycle reads Vault and lists the cluster


class SyncSettings(Model):
    """How and how often the daemon reconciles."""

    interval: Duration = 60.0
    """Time between cycles (``30s``, ``5m``, ``1h``); at least 1s. A rotation reaches
    every target within one interval (or at once with ``POST /trigger``)."""
    jitter: Fraction = 0.1
    """Random extra delay per cycle, as a share of the interval (``10%``), so replicas
    of many installations do not hit Vault in step."""
    prune: bool = False
    """Remove objects and keys we wrote that no entry wants any more. Off by default:
    deleting an entry from the config leaves what it wrote."""
    prune_max_fraction: Fraction = 0.1
    """A prune that would remove more than this share of the objects we own is refused
    until confirmed (``once --prune-confirm``, or a higher limit here), unless it
    removes only what one deleted entry wrote: a typo must not wipe the fleet."""
    concurrency: int = Field(default=8, ge=1, le=64)
    """Concurrent Kubernetes writes; also the HTTP connection pool size."""
    namespace_scoped: bool = False
    """List (and so need RBAC) only in target namespaces instead of cluster-wide: grant
    a RoleBinding per namespace (manifests/namespaced). The watch is then off and drift
    is repaired each interval."""
    rollouts_per_minute: int = Field(default=10, ge=1, le=600)
    """Most consumer restarts (targets with ``rollout: true``) in any minute, across
    all namespaces."""
    instance: Annotated[str, check(DNS1123_LABEL, "instance name (RFC 1123 label)", 63)] = (
        "default")
    """The name of this installation. Two syncers in one cluster (two teams, two Helm
    releases) need different names: each then sees only its own objects, so neither
    prunes nor overwrites the other's. Renaming orphans what was written."""

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: float) -> float:
        if value < MIN_INTERVAL:
            raise ValueError(f"must be at least {MIN_INTERVAL:g}s (each cycle reads Vault and "
                             "lists the cluster)")
        return value


class KServeSettings(Model):
    """What KServe's ``inferenceservice-config`` decides. A setting left out here is
    read from the cluster's ConfigMap each cycle (``readClusterConfig``); one set
    here that the cluster contradicts is reported as drift."""

    s3_access_key_id_name: SecretKeyName = Field("AWS_ACCESS_KEY_ID", alias="s3AccessKeyIDName")
    """Secret key of the S3 access key ID (``credentials.s3.s3AccessKeyIDName``)."""
    s3_secret_access_key_name: SecretKeyName = "AWS_SECRET_ACCESS_KEY"
    """Secret key of the S3 secret key (``credentials.s3.s3SecretAccessKeyName``)."""
    gcs_credential_file_name: SecretKeyName = "gcloud-application-credentials.json"
    """Secret key of the GCS key file (``credentials.gcs.gcsCredentialFileName``)."""
    storage_spec_secret_name: ObjectName = "storage-config"
    """Name of the storage-spec Secret (``credentials.storageSpecSecretName``)."""
    storage_secret_name_annotation: str = "serving.kserve.io/storageSecretName"
    """The InferenceService annotation naming a storage Secret
    (``credentials.storageSecretNameAnnotation``): rollouts follow it."""
    ca_bundle_mount_path: str = "/etc/ssl/custom-certs"
    """Where KServe mounts a CA bundle ConfigMap on the storage-spec path
    (``storageInitializer.caBundleVolumeMountPath``): ``ca_bundle`` points there."""
    read_cluster_config: bool = True
    """Read ``inferenceservice-config`` for the settings above that are not set here."""
    config_namespace: NamespaceName = "kserve"
    """Namespace of KServe's ``inferenceservice-config``."""


class S3Options(Model):
    """The ``serving.kserve.io/s3-*`` annotations (pkg/credentials/s3/s3_secret.go)."""

    endpoint: str | None = None
    """``host[:port]`` of the S3 service; a scheme given here becomes ``useHttps``."""
    use_https: bool | None = None
    """``s3-usehttps``: false for plain HTTP (MinIO in-cluster, say)."""
    verify_ssl: bool | None = None
    """``s3-verifyssl``: false to skip certificate checks (not recommended)."""
    region: str | None = None
    """``s3-region``, e.g. ``us-east-1``."""
    use_anonymous_credential: bool | None = None
    """``s3-useanoncredential``: read public buckets without keys."""
    use_virtual_bucket: bool | None = None
    """``s3-usevirtualbucket``: virtual-hosted-style addressing."""
    use_accelerate: bool | None = None
    """``s3-useaccelerate``: S3 Transfer Acceleration."""
    ca_bundle: str | None = None
    """``s3-cabundle``: path of a CA bundle inside the storage initializer."""
    ca_bundle_config_map: ObjectName | None = Field(None, alias="caBundleConfigMap")
    """``s3-cabundle-configmap``: ConfigMap holding that CA bundle."""

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


class Credential(Model):
    """One credential in Vault, and every place in the cluster it goes."""

    name: Annotated[str, check(DNS1123_LABEL, "name (RFC 1123 label)", 63)]
    """Unique name (an RFC 1123 label): in logs, metrics, ``--only`` and ``?only=``."""
    type: Literal["s3", "hf", "gcs", "azure", "https", "hdfs", "oci"]
    """Which storage provider: decides the Secret keys KServe reads (``oci``: a pull
    secret for model images, listed in ``imagePullSecrets``)."""
    vault: VaultSource
    """Where its values are in Vault."""
    s3: S3Options | None = None
    """S3 settings written as ``serving.kserve.io/s3-*`` annotations (s3 only)."""
    https: options.HttpsOptions | None = None
    """The host whose downloads get the headers (https only)."""
    hdfs: options.HdfsOptions | None = None
    """The namenode and other connection settings (hdfs only)."""
    oci: options.OciOptions | None = None
    """The registry of the username and password (oci only)."""
    targets: list[Target] = Field(min_length=1)
    """Where it is written."""

    @model_validator(mode="after")
    def _keys_for_type(self) -> Credential:
        if self.vault.engine == "aws" and self.type != "s3":
            raise ValueError("vault.engine: aws gives S3 access keys: only for type s3")
        given = set(self.vault.keys)
        problems = options.problems(self)  # https, hdfs, oci
        if problems:
            raise ValueError(problems[0])
        if self.type == "azure":
            if "accessToken" in given:
                raise ValueError("vault.keys.accessToken: KServe's storage initializer never "
                                 "reads AZURE_ACCESS_TOKEN (kserve-storage uses a service "
                                 "principal or an account key); map clientId+clientSecret+"
                                 "tenantId or storageAccessKey instead")
            unknown = given - set(AZURE_KEYS)
            if unknown:
                raise ValueError(f"vault.keys: unknown key(s) for azure: {sorted(unknown)}; "
                                 f"expected from {sorted(AZURE_KEYS)}")
            if not any(req <= given <= req | opt for req, opt in AZURE_SHAPES):
                raise ValueError("vault.keys: azure needs clientId+clientSecret+tenantId "
                                 "(+subscriptionId), or storageAccessKey")
        elif self.type not in options.TYPES:
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
    """The mapping file of kserve-vault-sync."""

    vault: VaultSettings
    """The Vault server and how to log in."""
    sync: SyncSettings = Field(default_factory=SyncSettings)
    """Scheduling, prune and scope."""
    kserve: KServeSettings = Field(default_factory=KServeSettings)
    """Names KServe's ``inferenceservice-config`` may override."""
    credentials: list[Credential] = Field(min_length=1)
    """The credentials to sync."""

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
    for index, cred in enumerate(config.credentials):
        out.extend(options.warnings(index, cred))
    if config.sync.prune and config.sync.prune_max_fraction >= 1:
        out.append("sync.pruneMaxFraction: 100% turns off the guard against a prune that "
                   "removes everything we own")
    return out


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the config file (``config/schema.json``), for editors."""
    schema = Config.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
