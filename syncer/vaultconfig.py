"""The Vault side of the mapping config: where Vault is, how the syncer logs in,
and which secrets engine each credential reads (KV, or the AWS engine's keys).

Pure, like :mod:`syncer.settings`, which re-exports these models. Every error
names its field relative to the model (``role: required ...``), so the loader
reports it at its place in the file (``vault.auth.role: ...``).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from syncer.fields import Duration, Model, VaultName, VaultPath

SA_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"


class KVSettings(Model):
    """Where the KV secrets engine is mounted and which version it speaks."""

    mount: VaultPath = "secret"
    """Mount path of the KV secrets engine; an entry may override it."""
    version: Literal[1, 2] = 2
    """KV engine version: 2 (versioned, the default) or 1."""


class AuthSettings(Model):
    """How the syncer logs in to Vault. One login is reused across cycles."""

    method: Literal["token", "approle", "kubernetes", "jwt", "cert"] = "token"
    """The auth method: ``token``, ``approle``, ``kubernetes``, ``jwt`` or ``cert``."""
    mount: VaultPath | None = None
    """Where the auth method is mounted; default: the method's name."""
    role: str | None = None
    """kubernetes, jwt: the Vault role (required). cert: the certificate role to match
    (optional)."""
    jwt_path: str = SA_TOKEN
    """kubernetes, jwt: the ServiceAccount token presented, re-read at every login (the
    kubelet rotates projected tokens). For jwt usually a projected token for Vault's
    audience."""
    client_cert: str | None = None
    """cert: the TLS client certificate (PEM file, re-read at every login)."""
    client_key: str | None = None
    """cert: the client certificate's key (PEM file, re-read at every login)."""
    role_id: str | None = None
    """approle: the role ID."""
    secret_id_file: str | None = None
    """approle: a file holding the secret ID (or set ``VAULT_APPROLE_SECRET_ID``)."""
    secret_id: SecretStr | None = None
    """approle: the secret ID itself; prefer ``secretIdFile``."""
    token_file: str | None = None
    """token: a file holding the token (or set ``VAULT_TOKEN``)."""
    token: SecretStr | None = None
    """token: the token itself; works, but prefer ``VAULT_TOKEN`` or ``tokenFile``."""

    @property
    def mount_point(self) -> str:
        return self.mount or self.method

    @model_validator(mode="after")
    def _method_fields(self) -> AuthSettings:
        if self.method in ("kubernetes", "jwt") and not self.role:
            raise ValueError(f"role: required for the {self.method} auth method")
        if self.method == "cert":
            for value, name in ((self.client_cert, "clientCert"), (self.client_key, "clientKey")):
                if not value:
                    raise ValueError(f"{name}: required for the cert auth method")
        if self.method == "approle":
            if not self.role_id:
                raise ValueError("roleId: required for the approle auth method")
            if not (self.secret_id_file or self.secret_id):
                raise ValueError("secretIdFile: required for approle "
                                 "(or set VAULT_APPROLE_SECRET_ID)")
        if self.method == "token" and not (self.token or self.token_file):
            raise ValueError("token: set VAULT_TOKEN or auth.tokenFile for the token method")
        return self


class VaultSettings(Model):
    """Where Vault (or OpenBao) is and how to reach it. ``VAULT_ADDR``,
    ``VAULT_NAMESPACE``, ``VAULT_CACERT`` and ``VAULT_TOKEN`` override the file."""

    address: str
    """URL of the Vault server, e.g. ``https://vault.vault:8200``."""
    namespace: str = ""
    """OpenBao / Vault Enterprise namespace to read from; empty for the root. HashiCorp
    Vault's community edition has none and ignores it: the syncer then refuses to read."""
    ca_cert: str | None = None
    """PEM file of the CA that signed Vault's certificate; default: the system CAs."""
    auth: AuthSettings
    """How to log in (required, unless ``VAULT_TOKEN`` is set)."""
    kv: KVSettings = Field(default_factory=KVSettings)
    """The KV secrets engine the credentials live in."""
    timeout: Duration = 10.0
    """Timeout of one request to Vault, e.g. ``10s``."""

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"{value!r} must be an http(s) URL")
        return value

    @model_validator(mode="after")
    def _cert_needs_tls(self) -> VaultSettings:
        if self.auth.method == "cert" and not self.address.startswith("https://"):
            raise ValueError("address: the cert auth method needs https (the client "
                             "certificate is presented in the TLS handshake)")
        return self


# The AWS secrets engine answers with these keys, for S3 (type s3) only.
AWS_KEYS = {"accessKeyId": "access_key", "secretAccessKey": "secret_key"}
AWS_MOUNT = "aws"
DEFAULT_OVERLAP = 900.0  # seconds; see VaultSource.overlap
DEFAULT_REVOKE_AFTER = 300.0  # seconds; see VaultSource.revoke_after


def _given(data: dict[str, Any], alias: str, name: str) -> bool:
    return data.get(alias) is not None or data.get(name) is not None


class VaultSource(Model):
    """Where a credential's values come from.

    ``engine: kv`` (the default) reads ``path`` from the KV engine and maps
    ``keys``. ``engine: aws`` takes an S3 access key from the AWS secrets engine:
    ``role`` for dynamic ``iam_user`` credentials (``<mount>/creds/<role>``: a
    leased key the syncer renews, re-issues and revokes), or ``staticRole`` for
    a key Vault rotates itself (``<mount>/static-creds/<name>``). For aws the path
    and keys follow from the role and are filled in here.
    """

    engine: Literal["kv", "aws"] = "kv"
    """``kv`` (the default) or ``aws`` (the AWS secrets engine, for ``type: s3``)."""
    path: VaultPath
    """kv: the secret's path under the mount. Not used with aws."""
    keys: dict[str, str]
    """kv: which key of the secret holds each value the type needs (e.g.
    ``{accessKeyId: access_key}``). Not used with aws."""
    mount: VaultPath | None = None
    """The engine's mount; default: ``vault.kv.mount``, or ``aws`` for the AWS engine."""
    kv_version: Literal[1, 2] | None = None
    """KV version of this mount; default: ``vault.kv.version``."""
    version: int | None = Field(default=None, ge=1)
    """Pin a KV v2 version; default: the latest."""
    role: VaultName | None = None
    """aws: a role with dynamic ``iam_user`` credentials: a leased key the syncer renews,
    re-issues and revokes."""
    static_role: VaultName | None = None
    """aws: a static role, whose key Vault rotates itself (read every cycle)."""
    overlap: Duration | None = None
    """aws ``role``: issue the next key this long before the lease reaches its max TTL -
    the longest both keys are valid. Default ``15m``."""
    revoke_after: Duration | None = None
    """aws ``role``: revoke the old key this long after the new one is in every target
    (and consumers with ``rollout: true`` were restarted), time for downloads begun with
    the old key to finish; or Vault ends it at its max TTL, whichever comes first.
    Default ``5m``; shorter than ``overlap``."""

    @model_validator(mode="before")
    @classmethod
    def _engine_fields(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        engine = data.get("engine", "kv")
        dynamic = _given(data, "role", "role")
        static = _given(data, "staticRole", "static_role")
        if engine != "aws":
            for alias, name in (("role", "role"), ("staticRole", "static_role"),
                                ("overlap", "overlap"), ("revokeAfter", "revoke_after")):
                if _given(data, alias, name):
                    raise ValueError(f"{alias}: only for engine aws")
            return data
        for alias, name in (("path", "path"), ("keys", "keys"), ("kvVersion", "kv_version"),
                            ("version", "version")):
            if _given(data, alias, name):
                raise ValueError(f"{alias}: not used with engine aws (the path is "
                                 "creds/ROLE or static-creds/NAME, the keys access_key "
                                 "and secret_key)")
        if dynamic == static:
            raise ValueError("role: set exactly one of role (dynamic iam_user credentials) "
                             "or staticRole (a key Vault rotates) for engine aws")
        for alias, name in (("overlap", "overlap"), ("revokeAfter", "revoke_after")):
            if static and _given(data, alias, name):
                raise ValueError(f"{alias}: only for role (dynamic credentials); Vault "
                                 "rotates a static role's key itself")
        role = data.get("role") if dynamic else data.get("staticRole", data.get("static_role"))
        prefix = "creds" if dynamic else "static-creds"
        return {**data, "path": f"{prefix}/{role}", "keys": dict(AWS_KEYS),
                "mount": data.get("mount") or AWS_MOUNT}

    @model_validator(mode="after")
    def _revoke_within_overlap(self) -> VaultSource:
        if self.dynamic and self.revoke_after_seconds >= self.overlap_seconds:
            raise ValueError(f"revokeAfter: {self.revoke_after_seconds:g}s must be shorter "
                             f"than overlap ({self.overlap_seconds:g}s): Vault ends the old "
                             "key at its max TTL, overlap after the new one is issued")
        return self

    @property
    def dynamic(self) -> bool:
        """Leased keys from ``<mount>/creds/<role>``."""
        return self.engine == "aws" and self.role is not None

    @property
    def overlap_seconds(self) -> float:
        return self.overlap if self.overlap is not None else DEFAULT_OVERLAP

    @property
    def revoke_after_seconds(self) -> float:
        return self.revoke_after if self.revoke_after is not None else DEFAULT_REVOKE_AFTER
