"""What each credential type's Secret holds, built from checked Vault values. Pure.

The storage providers' Secrets (s3, hf, gcs, azure) carry Vault's values under
KServe's key names (:func:`syncer.kserve.secret_keys`). https, hdfs and oci add
values from the config and JSON built here (:mod:`syncer.options` says what
KServe and the kubelet read).

Every value is checked before anything is written, and a failed check names
the key, never the value: GCS key files and header maps are JSON objects, TLS
files are PEM, a keytab is base64 of a keytab, a docker config names its
registries and their credentials, and any other value is free of surrounding
whitespace (KServe and kserve-storage use values as they are).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from syncer import kserve, options, settings
from syncer.errors import ValueRejected
from syncer.secretvalue import BinaryValue, PublicValue, SecretValue

DOCKER_CONFIG_KEY = ".dockerconfigjson"
DOCKER_CONFIG_TYPE = "kubernetes.io/dockerconfigjson"
HTTPS_HOST, HTTPS_HEADERS = "https-host", "headers"  # pkg/credentials/https
KEYTAB_VERSION = 0x05  # the first byte of every keytab file (MIT krb5 format)


def checked(cred_type: str, logical: str, value: SecretValue, where: str) -> SecretValue:
    """The value to write for one Vault key, or ValueRejected saying what is wrong."""
    text = value.reveal()
    if logical == "credentials" and cred_type == "gcs":
        _json_object(text, where, "a GCS key file")
    elif logical == "headers":
        _headers(text, where)
    elif cred_type == "hdfs" and logical in options.HDFS_PEM_KEYS:
        if "-----BEGIN " not in text:
            raise ValueRejected(f"{where} is not PEM (requests loads TLS files as PEM)")
    elif cred_type == "hdfs" and logical in options.HDFS_BASE64_KEYS:
        return _keytab(text, where)
    elif cred_type == "oci" and logical == "dockerConfigJson":
        _docker_config(text, where)
    elif text != text.strip():
        raise ValueRejected(f"{where} has leading or trailing whitespace")
    elif cred_type == "oci" and logical == "username" and ":" in text:
        raise ValueRejected(f"{where} contains ':' (a registry login joins user:password)")
    return value


def _json_object(text: str, where: str, what: str) -> dict[str, Any]:
    try:
        parsed = json.loads(text)
    except ValueError:
        raise ValueRejected(f"{where} is not valid JSON ({what})") from None
    if not isinstance(parsed, dict):
        raise ValueRejected(f"{where} is not a JSON object ({what})")
    return parsed


def _headers(text: str, where: str) -> None:
    # kserve-storage json.loads it and hands the dict to requests, which refuses a
    # value with a line break or surrounding whitespace.
    parsed = _json_object(text, where, 'header name -> value, e.g. {"Authorization": "..."}')
    if not parsed:
        raise ValueRejected(f"{where} holds no header")
    for name, header in parsed.items():
        if not options.HTTP_TOKEN.match(name):
            raise ValueRejected(f"{where} has a key that is not an HTTP header name")
        if (not isinstance(header, str) or header != header.strip()
                or any(c in header for c in "\r\n\0")):
            raise ValueRejected(f"{where} has a header value that is not a one-line string")


def _keytab(text: str, where: str) -> BinaryValue:
    try:
        data = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ValueRejected(f"{where} is not base64 (a keytab is binary: store it "
                            "base64-encoded in Vault)") from None
    if not data or data[0] != KEYTAB_VERSION:
        raise ValueRejected(f"{where} does not decode to a keytab (no version byte 0x05)")
    return BinaryValue(data)


def _docker_config(text: str, where: str) -> None:
    # What the kubelet reads from a kubernetes.io/dockerconfigjson Secret
    # (pkg/credentialprovider: DockerConfigJSON.Auths).
    parsed = _json_object(text, where, 'a docker config, {"auths": {...}}')
    auths = parsed.get("auths")
    if not isinstance(auths, dict) or not auths:
        raise ValueRejected(f"{where} has no \"auths\" with a registry in it")
    for registry, entry in auths.items():
        if not registry or not isinstance(entry, dict):
            raise ValueRejected(f"{where} has an \"auths\" entry that is not an object")
        login = (isinstance(entry.get("auth"), str) and entry["auth"]) or (
            isinstance(entry.get("username"), str) and isinstance(entry.get("password"), str))
        if not login:
            raise ValueRejected(f"{where} has an \"auths\" entry without auth or "
                                "username+password")


def secret_type(cred: settings.Credential) -> str:
    return DOCKER_CONFIG_TYPE if cred.type == "oci" else "Opaque"


def _from_config(cred: settings.Credential) -> dict[str, str]:
    """The Secret keys whose values come from the config, not Vault."""
    if cred.type == "https":
        assert cred.https is not None
        return {HTTPS_HOST: cred.https.host}
    if cred.type == "hdfs":
        assert cred.hdfs is not None
        hdfs = cred.hdfs
        pairs = {"HDFS_NAMENODE": hdfs.namenode, "HDFS_ROOTPATH": hdfs.root_path,
                 "USER_PROXY": hdfs.user_proxy,
                 "TLS_SKIP_VERIFY": (None if hdfs.tls_skip_verify is None
                                     else str(hdfs.tls_skip_verify).lower()),
                 "N_THREADS": None if hdfs.n_threads is None else str(hdfs.n_threads)}
        return {k: v for k, v in pairs.items() if v is not None}
    return {}


def data_keys(config: settings.Config, cred: settings.Credential) -> frozenset[str]:
    """Every key the credential writes into its per-backend Secret."""
    if cred.type == "https":
        return frozenset({HTTPS_HOST, HTTPS_HEADERS})
    if cred.type == "hdfs":
        return frozenset(_from_config(cred)) | {options.HDFS_KEYS[k] for k in cred.vault.keys}
    if cred.type == "oci":
        return frozenset({DOCKER_CONFIG_KEY})
    return frozenset(kserve.secret_keys(config, cred))


def secret_data(config: settings.Config, cred: settings.Credential,
                values: dict[str, SecretValue]) -> dict[str, SecretValue]:
    """The per-backend Secret's data: key -> value (values as checked above)."""
    data: dict[str, SecretValue] = {k: PublicValue(v) for k, v in _from_config(cred).items()}
    if cred.type == "https":
        assert cred.https is not None
        data[HTTPS_HEADERS] = values.get("headers") or _token_headers(cred.https,
                                                                       values["token"])
    elif cred.type == "hdfs":
        data.update({options.HDFS_KEYS[logical]: v for logical, v in values.items()})
    elif cred.type == "oci":
        data[DOCKER_CONFIG_KEY] = values.get("dockerConfigJson") or _docker_config_json(
            cred, values["username"], values["password"])
    else:
        data.update({key: values[logical]
                     for key, logical in kserve.secret_keys(config, cred).items()})
    return data


def _token_headers(https: options.HttpsOptions, token: SecretValue) -> SecretValue:
    value = f"{https.token_scheme} {token.reveal()}" if https.token_scheme else token.reveal()
    return SecretValue(json.dumps({https.token_header: value}, separators=(",", ":")))


def _docker_config_json(cred: settings.Credential, username: SecretValue,
                        password: SecretValue) -> SecretValue:
    # The shape `kubectl create secret docker-registry` writes: the kubelet decodes
    # "auth" (base64 of user:password) and it wins over the two plain fields.
    assert cred.oci is not None and cred.oci.registry is not None
    user, secret = username.reveal(), password.reveal()
    auth = base64.b64encode(f"{user}:{secret}".encode()).decode()
    doc = {"auths": {cred.oci.registry: {"username": user, "password": secret, "auth": auth}}}
    return SecretValue(json.dumps(doc, sort_keys=True, separators=(",", ":")))
