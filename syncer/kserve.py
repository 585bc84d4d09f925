"""What KServe reads, and how we encode it. Pure.

The shapes follow KServe's own code (checked at commit aaac4e294):
- per-backend Secrets and their ``serving.kserve.io/s3-*`` annotations:
  pkg/credentials/s3/s3_secret.go and s3/utils.go;
- provider detection order (one provider per Secret):
  pkg/credentials/service_account_credentials.go;
- the storage-spec JSON (all values strings; ``default``/``default_<type>``):
  pkg/webhook/admission/pod/storage_initializer_injector.go and
  python/storage/kserve_storage/kserve_storage.py (``_update_with_storage_spec``).
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping
from typing import Any

from syncer import settings
from syncer.model import KSERVE_PREFIX
from syncer.secretvalue import SecretValue


def _bool01(value: bool) -> str:
    return "1" if value else "0"


def s3_annotations(opts: settings.S3Options | None) -> dict[str, str]:
    """``serving.kserve.io/s3-*`` annotations; values are strings as KServe compares them.

    s3-usehttps and s3-verifyssl: only "0" (or "false") turns them off; the
    three boolean switches are compared with "true" (case-insensitive), so
    "1" would be ignored there.
    """
    if opts is None:
        return {}
    pairs: list[tuple[str, str | None]] = [
        ("s3-endpoint", opts.endpoint),
        ("s3-usehttps", None if opts.use_https is None else _bool01(opts.use_https)),
        ("s3-verifyssl", None if opts.verify_ssl is None else _bool01(opts.verify_ssl)),
        ("s3-region", opts.region),
        ("s3-useanoncredential", None if opts.use_anonymous_credential is None
         else str(opts.use_anonymous_credential).lower()),
        ("s3-usevirtualbucket", None if opts.use_virtual_bucket is None
         else str(opts.use_virtual_bucket).lower()),
        ("s3-useaccelerate", None if opts.use_accelerate is None
         else str(opts.use_accelerate).lower()),
        ("s3-cabundle", opts.ca_bundle),
        ("s3-cabundle-configmap", opts.ca_bundle_config_map),
    ]
    return {KSERVE_PREFIX + k: v for k, v in pairs if v is not None}


def storage_spec_json(opts: settings.S3Options | None, bucket: str | None,
                      access_key_id: SecretValue, secret_access_key: SecretValue, *,
                      ca_mount: str = "/etc/ssl/custom-certs") -> SecretValue:
    """One storage-config entry. Every value is a JSON string: kserve_storage
    copies them into os.environ (a bool raises TypeError) and the webhook
    parses the value as map[string]string (a non-string rejects the pod)."""
    opts = opts or settings.S3Options()
    spec: dict[str, str] = {
        "type": "s3",
        "access_key_id": access_key_id.reveal(),
        "secret_access_key": secret_access_key.reveal(),
    }
    if opts.endpoint:
        # kserve_storage uses endpoint_url as AWS_ENDPOINT_URL: it needs the scheme.
        scheme = "http" if opts.use_https is False else "https"
        spec["endpoint_url"] = f"{scheme}://{opts.endpoint}"
    if bucket:
        spec["bucket"] = bucket
    if opts.region:
        spec["region"] = opts.region
    if opts.verify_ssl is not None:
        spec["verify_ssl"] = _bool01(opts.verify_ssl)
    if opts.use_anonymous_credential is not None:
        spec["anonymous"] = str(opts.use_anonymous_credential).lower()
    if opts.ca_bundle:
        # On this path KServe mounts the CA ConfigMap at caBundleVolumeMountPath, not at
        # the directory of s3-cabundle (that is the ServiceAccount path): point there.
        spec["ca_bundle"] = posixpath.join(ca_mount, posixpath.basename(opts.ca_bundle))
    if opts.ca_bundle_config_map:
        spec["cabundle_configmap"] = opts.ca_bundle_config_map
    return SecretValue(json.dumps(spec, sort_keys=True, separators=(",", ":")))


def secret_keys(config: settings.Config, cred: settings.Credential) -> dict[str, str]:
    """KServe data key -> logical key, for a credential's per-backend Secret."""
    ks = config.kserve
    if cred.type == "s3":
        return {ks.s3_access_key_id_name: "accessKeyId",
                ks.s3_secret_access_key_name: "secretAccessKey"}
    if cred.type == "hf":
        return {"HF_TOKEN": "token"}
    if cred.type == "gcs":
        return {ks.gcs_credential_file_name: "credentials"}
    return {settings.AZURE_KEYS[logical]: logical for logical in cred.vault.keys}


# Our KServeSettings field -> where inferenceservice-config keeps it (section, path).
CLUSTER_FIELDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "s3_access_key_id_name": ("credentials", ("s3", "s3AccessKeyIDName")),
    "s3_secret_access_key_name": ("credentials", ("s3", "s3SecretAccessKeyName")),
    "gcs_credential_file_name": ("credentials", ("gcs", "gcsCredentialFileName")),
    "storage_spec_secret_name": ("credentials", ("storageSpecSecretName",)),
    "storage_secret_name_annotation": ("credentials", ("storageSecretNameAnnotation",)),
    "ca_bundle_mount_path": ("storageInitializer", ("caBundleVolumeMountPath",)),
}
CONFIG_MAP = "inferenceservice-config"


def cluster_settings(data: Mapping[str, str]) -> dict[str, str]:
    """The settings an ``inferenceservice-config``'s data holds (JSON per section);
    a section that is missing or not JSON gives nothing."""
    out: dict[str, str] = {}
    for field, (section, path) in CLUSTER_FIELDS.items():
        try:
            node: Any = json.loads(data.get(section) or "{}")
        except ValueError:
            continue
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, str) and node:
            out[field] = node
    return out


def effective(config: settings.Config, cluster: Mapping[str, str]
              ) -> tuple[settings.Config, list[str]]:
    """The config with what it leaves to the cluster filled in, and a line per setting
    the config sets differently from the cluster (KServe will use the cluster's)."""
    given = config.kserve.model_fields_set
    drift = []
    for field, value in cluster.items():
        mine = getattr(config.kserve, field)
        if field in given and mine != value:
            section, path = CLUSTER_FIELDS[field]
            name = settings.KServeSettings.model_fields[field].alias or field
            drift.append(f"kserve.{name} is {mine!r}, but the cluster's {CONFIG_MAP} "
                         f"has {section}.{'.'.join(path)} = {value!r}: KServe uses the latter")
    filled = {f: v for f, v in cluster.items() if f not in given}
    if not filled:
        return config, drift
    kserve = config.kserve.model_copy(update=filled)
    return config.model_copy(update={"kserve": kserve}), drift
