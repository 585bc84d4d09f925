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
from syncer.settings import Config, Credential, KServeSettings, cross_entry_errors


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


MAX_BYTES = 16 * 1024 * 1024  # a 10,000-target mapping is about 2 MiB
MAX_VALUES = 2_000_000  # scalars and collections after YAML aliases are expanded
MAX_ERRORS = 50  # reported per file; the count of the rest is given
MAX_ERROR_LEN = 300


class _MarkedLoader(yaml.SafeLoader):
    """The pure-Python loader, remembering the node it was constructing, so an
    exception from a tag's constructor (``!!float abc``) can say where it was
    without repeating the value."""

    last_mark: Any = None

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        self.last_mark = node.start_mark
        return super().construct_object(node, deep=deep)


def _yaml_error(text: str) -> str:
    """Why ``text`` does not load, with line and column, never its content."""
    try:
        loader = _MarkedLoader(text)
    except yaml.reader.ReaderError as exc:
        return f"position {exc.position}: character #x{exc.character:04x} is not allowed"
    try:
        loader.get_single_data()
    except yaml.reader.ReaderError as exc:
        return f"position {exc.position}: character #x{exc.character:04x} is not allowed"
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        # problem texts name characters and tags, not values ("found undefined alias").
        return f"{where}{exc.problem or 'invalid YAML'}"
    except RecursionError:
        return "the YAML is nested too deeply"
    except Exception:  # noqa: BLE001 - a constructor's ValueError may quote the value
        mark = loader.last_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        return f"{where}a value cannot be read as its tag says (e.g. !!float, !!timestamp)"
    finally:
        loader.dispose()
    return "invalid YAML"


def _expanded_size(raw: Any, limit: int) -> int:
    """How many values the document holds once aliases are expanded, up to ``limit``."""
    count, stack = 0, [raw]
    while stack and count <= limit:
        item = stack.pop()
        count += 1
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count


def _bounded(errors: list[str]) -> list[str]:
    cut = [e if len(e) <= MAX_ERROR_LEN else e[:MAX_ERROR_LEN] + "…" for e in errors]
    if len(cut) > MAX_ERRORS:
        return [*cut[:MAX_ERRORS], f"... and {len(cut) - MAX_ERRORS} more errors"]
    return cut


def _load_yaml(data: str | bytes, source: str) -> dict[str, Any]:
    if isinstance(data, bytes):
        if len(data) > MAX_BYTES:
            raise ConfigError(source, [f"the file is larger than {MAX_BYTES} bytes"])
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(source, [f"the file is not valid UTF-8 (byte {exc.start})"]
                              ) from None
    else:
        text = data
    try:
        # The C loader is ~10x faster on a 10,000-target mapping; the pure-Python
        # one re-parses a broken file so its error says where (line, column).
        raw = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    except RecursionError:
        raise ConfigError(source, ["the YAML is nested too deeply"]) from None
    except Exception:  # noqa: BLE001 - whatever the parser or a tag raised: say where, once
        raise ConfigError(source, [_yaml_error(text)]) from None
    if raw is None:
        raise ConfigError(source, ["the file is empty"])
    if not isinstance(raw, dict):
        raise ConfigError(source, ["top level must be a mapping"])
    if _expanded_size(raw, MAX_VALUES) > MAX_VALUES:
        raise ConfigError(source, [f"the document expands to more than {MAX_VALUES} values "
                                   "(YAML aliases)"])
    return raw


def _cross_entry_errors(raw: dict[str, Any]) -> list[str]:
    """Checks across entries, over the entries that are valid on their own: so one
    run of ``validate`` reports field errors and collisions together."""
    creds = raw.get("credentials")
    if not isinstance(creds, list):
        return []
    valid = []
    for index, item in enumerate(creds):
        try:
            valid.append((index, Credential.model_validate(item)))
        except ValidationError:
            continue
    try:
        kserve = KServeSettings.model_validate(raw.get("kserve") or {})
    except ValidationError:
        kserve = KServeSettings()
    return cross_entry_errors(valid, kserve)


def parse(data: str | bytes, *, source: str = "config",
          environ: Mapping[str, str] | None = None) -> Config:
    """Parse and validate YAML config (text or a file's bytes).

    Raises one ConfigError listing every problem (bounded in count and length, and
    never quoting a value); no other exception escapes."""
    raw = _load_yaml(data, source)
    raw = apply_env(raw, environ or {})
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        errors = [line for err in exc.errors(include_input=False, include_url=False)
                  for line in _format(err)]
        if not any(e.startswith("credentials[") and "writes" in e for e in errors):
            errors += [e for e in _cross_entry_errors(raw) if e not in errors]
        raise ConfigError(source, _bounded(errors)) from None
    except RecursionError:
        raise ConfigError(source, ["the YAML is nested too deeply"]) from None


def load_file(path: str, environ: Mapping[str, str]) -> Config:
    """Read ``path`` and parse it; ConfigError for an unreadable file too."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(path, [f"cannot read: {exc.strerror}"]) from None
    return parse(data, source=path, environ=environ)
