"""Read and parse a config file into :class:`syncer.settings.Config`.

Every failure - an unreadable file, broken YAML, a field that does not
validate - becomes one :class:`~syncer.errors.ConfigError` listing each
problem with its path, never another exception.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from syncer.errors import ConfigError
from syncer.settings import Config


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


def _format(err: Mapping[str, Any]) -> list[str]:
    loc = _loc(tuple(err["loc"]))
    if err["type"] == "extra_forbidden":
        return [f"{loc}: unknown field"]
    if err["type"] == "missing":
        return [f"{loc}: required field missing"]
    msg = str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if not loc:
        # Config-level checks join one message per problem, each with its own path.
        return msg.split("; ")
    # Validators on a model report fields relative to it ("vault.keys: ...").
    return [f"{loc}.{msg}" if loc and re.match(r"^[a-zA-Z][a-zA-Z0-9]*[.\[:]", msg)
            else (f"{loc}: {msg}" if loc else msg)]


def apply_env(raw: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """VAULT_ADDR, VAULT_TOKEN, VAULT_NAMESPACE and VAULT_CACERT win over the file (Vault CLI)."""
    given = raw.get("vault")
    if given is not None and not isinstance(given, dict):
        return raw  # not a mapping: let validation report it with its path
    vault = dict(given or {})
    for env_name, field in (("VAULT_ADDR", "address"), ("VAULT_NAMESPACE", "namespace"),
                            ("VAULT_CACERT", "caCert")):
        if environ.get(env_name):
            vault[field] = environ[env_name]
    auth_given = vault.get("auth")
    auth = dict(auth_given) if isinstance(auth_given, dict) else {}
    if auth_given is not None and not isinstance(auth_given, dict) and \
            not environ.get("VAULT_TOKEN"):
        return {**raw, "vault": vault}
    if environ.get("VAULT_TOKEN"):
        # The Vault CLI uses VAULT_TOKEN whatever else is configured.
        auth = {"method": "token", "token": environ["VAULT_TOKEN"]}
    elif auth.get("method") == "approle" and environ.get("VAULT_APPROLE_SECRET_ID"):
        auth["secretId"] = environ["VAULT_APPROLE_SECRET_ID"]
    if auth:
        vault["auth"] = auth
    return {**raw, "vault": vault} if vault else raw


def parse(text: str, *, source: str = "config", environ: Mapping[str, str] | None = None
          ) -> Config:
    """Parse and validate YAML config text. Raises ConfigError listing every problem."""
    try:
        # The C loader is ~10x faster on a 10,000-target mapping; the pure-Python
        # one re-parses a broken file so its error (line, column) reads the same.
        raw = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    except yaml.YAMLError:
        try:
            yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
            problem = getattr(exc, "problem", None) or "invalid YAML"
            raise ConfigError(source, [f"{where}{problem}"]) from None
        raise ConfigError(source, ["invalid YAML"]) from None
    if raw is None:
        raise ConfigError(source, ["the file is empty"])
    if not isinstance(raw, dict):
        raise ConfigError(source, ["top level must be a mapping"])
    raw = apply_env(raw, environ or {})
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        errors = [line for err in exc.errors() for line in _format(err)]
        raise ConfigError(source, errors) from None


def load_file(path: str, environ: Mapping[str, str]) -> Config:
    """Read ``path`` and parse it; ConfigError for an unreadable file too."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(path, [f"cannot read: {exc.strerror}"]) from None
    return parse(text, source=path, environ=environ)
