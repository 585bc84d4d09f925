"""The credential types whose Secret holds more than Vault's values: https, hdfs, oci.

Each has a block in the config (``https:``, ``hdfs:``, ``oci:``) for what is not
secret - a host, a namenode, a registry - and takes its secrets from Vault
(``vault.keys``). What they become was read in KServe v0.17.0 and Kubernetes:

- https: Secret keys ``https-host`` and ``headers``. The webhook sets env
  ``<https-host>-headers`` to the headers (pkg/credentials/https/https_secret.go);
  kserve-storage's ``_download_from_uri`` looks that name up by the URI's host
  name (lower case, no port) and ``json.loads`` it.
- hdfs: the whole Secret mounted at ``/var/secrets/kserve-hdfscreds``
  (pkg/credentials/hdfs/hdfs_secret.go); kserve-storage's
  ``_load_hdfs_configuration`` reads each file by its name, passing
  KERBEROS_KEYTAB and TLS_* on as paths and reading the others as text.
- oci: a ``kubernetes.io/dockerconfigjson`` Secret in the ServiceAccount's
  ``imagePullSecrets``. KServe reads no credential for ``oci://``: its webhook
  adds the model image as a container (the modelcar) and the kubelet pulls it
  with the pod's pull secrets, which the API server copies from the ServiceAccount.

Pure: validation only.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pydantic import Field, field_validator

from syncer.fields import Model

if TYPE_CHECKING:  # settings imports this module
    from syncer.settings import Credential

# One of these sets of logical Vault keys per type.
HTTPS_SHAPES = (frozenset({"headers"}), frozenset({"token"}))
OCI_SHAPES = (frozenset({"username", "password"}), frozenset({"dockerConfigJson"}))
# hdfs: logical Vault key -> the file KServe mounts (any subset, at least one).
HDFS_KEYS = {
    "kerberosPrincipal": "KERBEROS_PRINCIPAL",
    "kerberosKeytab": "KERBEROS_KEYTAB",
    "tlsCert": "TLS_CERT",
    "tlsKey": "TLS_KEY",
    "tlsCa": "TLS_CA",
    "headers": "HEADERS",
}
# Files requests loads as PEM (a client certificate, its key, a CA bundle).
HDFS_PEM_KEYS = frozenset({"tlsCert", "tlsKey", "tlsCa"})
# A keytab is binary and a Vault value a string: it is stored base64-encoded.
HDFS_BASE64_KEYS = frozenset({"kerberosKeytab"})

HTTP_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # RFC 9110 field name
_HOST = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_NAMENODE = re.compile(r"^https?://[^\s/;]+$")
_REGISTRY = re.compile(r"^(https?://)?(\*\.)?[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:\d{1,5})?"
                       r"(/[-._a-z0-9]+)*/?$")


class HttpsOptions(Model):
    """Headers kserve-storage sends when it downloads ``http(s)://<host>/...`` URIs."""

    host: str
    """Host name of the model URIs, as kserve-storage matches it: no scheme, port or
    path (``models.example.com``). The webhook names the env ``<host>-headers``."""
    token_header: str = "Authorization"
    """With ``vault.keys.token``: the header that carries the token."""
    token_scheme: str = "Bearer"
    """With ``vault.keys.token``: written before it (``Bearer <token>``); ``""`` for
    the bare token (an API-key header)."""

    @field_validator("host", mode="before")
    @classmethod
    def _host(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        host = value.strip().lower()
        if "://" in host:
            raise ValueError(f"{value!r}: give the host name only, without a scheme")
        if "/" in host:
            raise ValueError(f"{value!r}: give the host name only, without a path")
        if ":" in host:
            raise ValueError(f"{value!r}: give the host name without the port: "
                             "kserve-storage looks the headers up by host name only")
        if len(host) > 253 or not _HOST.match(host):
            raise ValueError(f"{value!r} is not a host name")
        return host

    @field_validator("token_header")
    @classmethod
    def _header(cls, value: str) -> str:
        if not HTTP_TOKEN.match(value):
            raise ValueError(f"{value!r} is not an HTTP header name")
        return value

    @field_validator("token_scheme")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if value and not HTTP_TOKEN.match(value):
            raise ValueError(f"{value!r}: one word without spaces, such as Bearer")
        return value


class HdfsOptions(Model):
    """The HDFS connection; its credentials come from Vault (``vault.keys``)."""

    namenode: str
    """WebHDFS URL of the namenode (``HDFS_NAMENODE``), e.g.
    ``https://namenode.hdfs:9871``; several for HA, separated by ``;``."""
    root_path: str | None = None
    """``HDFS_ROOTPATH``: model paths are relative to it."""
    user_proxy: str | None = None
    """``USER_PROXY``: the user to act as."""
    tls_skip_verify: bool | None = None
    """``TLS_SKIP_VERIFY``: true skips certificate checks (not recommended)."""
    n_threads: int | None = Field(None, ge=1, le=64)
    """``N_THREADS``: files of a directory downloaded in parallel."""

    @field_validator("namenode")
    @classmethod
    def _namenode(cls, value: str) -> str:
        for part in value.split(";"):
            if not _NAMENODE.match(part):
                raise ValueError(f"{part!r} is not an http(s)://host[:port] URL")
        return value

    @field_validator("root_path", "user_proxy")
    @classmethod
    def _word(cls, value: str | None) -> str | None:
        # kserve-storage reads these files whole: a stray newline would be part of the path.
        if value is not None and (not value or any(c.isspace() for c in value)):
            raise ValueError(f"{value!r}: must be non-empty, without whitespace")
        return value


class OciOptions(Model):
    """A pull secret for model images (``oci://`` storage URIs)."""

    registry: str | None = None
    """What the username and password are for, as the kubelet matches images:
    ``host[:port]`` and an optional path (``registry.example.com``, ``quay.io/team``,
    ``*.example.com``). Required with ``username``/``password``; not with
    ``dockerConfigJson``, which names its registries itself."""

    @field_validator("registry")
    @classmethod
    def _registry(cls, value: str | None) -> str | None:
        if value is not None and not _REGISTRY.match(value):
            raise ValueError(f"{value!r} is not a registry host[:port][/path] "
                             "(lower case, as image references spell it)")
        return value


TYPES = ("https", "hdfs", "oci")


def _one_shape(kind: str, given: set[str], shapes: tuple[frozenset[str], ...]) -> str | None:
    if any(given == shape for shape in shapes):
        return None
    choices = " or ".join("+".join(sorted(shape)) for shape in shapes)
    return f"vault.keys: {kind} needs {choices}; got {sorted(given) or 'none'}"


def problems(cred: Credential) -> list[str]:
    """What is wrong with a credential's ``https``/``hdfs``/``oci`` settings and, for
    those types, its keys (messages start with the field, as the loader prefixes
    ``credentials[i].``)."""
    out = [f"{block}: only for type {block}" for block in TYPES
           if getattr(cred, block) is not None and cred.type != block]
    if cred.type not in TYPES:
        return out
    given = set(cred.vault.keys)
    if cred.type == "https":
        if cred.https is None:
            out.append("https: required for type https (https.host names the host)")
        problem = _one_shape("https", given, HTTPS_SHAPES)
    elif cred.type == "hdfs":
        problem = _hdfs_problem(cred, given)
    else:
        problem = _one_shape("oci", given, OCI_SHAPES)
        registry = cred.oci.registry if cred.oci else None
        if "username" in given and not registry:
            out.append("oci.registry: required with vault.keys.username/password "
                       "(the registry they log in to)")
        if "dockerConfigJson" in given and registry:
            out.append("oci.registry: not with vault.keys.dockerConfigJson, whose "
                       "auths name the registries")
        out += [f"targets[{i}].rollout: a pull secret needs no restart (the kubelet reads "
                "it at every pull)" for i, t in enumerate(cred.targets) if t.rollout]
    return out + ([problem] if problem else [])


def _hdfs_problem(cred: Credential, given: set[str]) -> str | None:
    if cred.hdfs is None:
        return "hdfs: required for type hdfs (hdfs.namenode names the namenode)"
    unknown = given - set(HDFS_KEYS)
    if unknown:
        return (f"vault.keys: unknown key(s) for hdfs: {sorted(unknown)}; expected from "
                f"{sorted(HDFS_KEYS)}")
    if not given:
        return ("vault.keys: hdfs needs at least one of " + ", ".join(sorted(HDFS_KEYS))
                + " (without credentials there is nothing to sync from Vault)")
    if ("kerberosKeytab" in given) != ("kerberosPrincipal" in given):
        return "vault.keys: kerberosKeytab and kerberosPrincipal go together"
    if "tlsKey" in given and "tlsCert" not in given:
        return "vault.keys.tlsKey: needs tlsCert (the certificate of that key)"
    if cred.hdfs.tls_skip_verify and "tlsCa" in given:
        return "hdfs.tlsSkipVerify: contradicts vault.keys.tlsCa (a CA to verify with)"
    return None


def warnings(index: int, cred: Credential) -> list[str]:
    """Valid but risky: an https host that starts with a digit (an IPv4 address)
    makes the env name ``<host>-headers``, which Kubernetes before 1.32
    (RelaxedEnvironmentVariableValidation) refuses, and with it the pod."""
    if cred.https is not None and cred.https.host[:1].isdigit():
        return [f"credentials[{index}].https.host: {cred.https.host!r} starts with a digit; "
                f"the env {cred.https.host}-headers is valid only on Kubernetes 1.32 and "
                "later, where earlier API servers reject the pod"]
    return []
