"""Field types of the mapping config: Kubernetes names, Vault paths, durations,
and the base every config model shares.

Pure validators that pydantic runs on each field, so a bad value is reported
at its own path (``credentials[0].targets[1].namespaces[0]: ...``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, WithJsonSchema
from pydantic.alias_generators import to_camel

# Kubernetes naming rules (apimachinery validation).
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")

# Vault's own rule for role names (framework.GenericNameRegex).
VAULT_NAME = re.compile(r"^\w(([\w.@-]+)?\w)?$")

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: object) -> float:
    """``60s``, ``5m``, ``1h30m``, ``250ms`` or a number of seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 60s or 5m")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        parts = _DURATION_PART.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise ValueError(f"invalid duration {value!r}: use forms like 30s, 5m, 1h30m")
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    else:
        raise ValueError("expected a duration like 60s or 5m")
    if seconds <= 0:
        raise ValueError("duration must be positive")
    return seconds


def parse_fraction(value: object) -> float:
    """``10%`` or ``0.1``; between 0 and 1."""
    if isinstance(value, bool):
        raise ValueError("expected a percentage like 10%")
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            fraction = float(value.strip()[:-1]) / 100
        except ValueError:
            raise ValueError(f"invalid percentage {value!r}") from None
    elif isinstance(value, int | float | str):
        try:
            fraction = float(value)
        except ValueError:
            raise ValueError(f"invalid fraction {value!r}: use 10% or 0.1") from None
    else:
        raise ValueError("expected a percentage like 10%")
    if not 0 <= fraction <= 1:
        raise ValueError("must be between 0% and 100%")
    return fraction


def check(pattern: re.Pattern[str], what: str, max_len: int) -> Any:
    def validate(value: str) -> str:
        if len(value) > max_len or not pattern.match(value):
            raise ValueError(f"{value!r} is not a valid {what}")
        return value
    return AfterValidator(validate)


# The schema says what the YAML may hold (``60s`` or seconds), not the parsed float.
Duration = Annotated[float, BeforeValidator(parse_duration), WithJsonSchema({
    "anyOf": [{"type": "number", "exclusiveMinimum": 0},
              {"type": "string", "pattern": r"^(\d+(\.\d+)?(ms|s|m|h))+$"}],
    "examples": ["30s", "5m", "1h30m"]})]
Fraction = Annotated[float, BeforeValidator(parse_fraction), WithJsonSchema({
    "anyOf": [{"type": "number", "minimum": 0, "maximum": 1},
              {"type": "string", "pattern": r"^\d+(\.\d+)?%$"}],
    "examples": ["10%", 0.1]})]
NamespaceName = Annotated[str, check(DNS1123_LABEL, "namespace name (RFC 1123 label)", 63)]
ObjectName = Annotated[str, check(DNS1123_SUBDOMAIN, "Kubernetes object name", 253)]
SecretKeyName = Annotated[str, check(SECRET_KEY, "Secret data key ([-._a-zA-Z0-9]+)", 253)]
VaultName = Annotated[str, check(VAULT_NAME, "Vault role name", 128)]



def _vault_path(value: str) -> str:
    path = value.strip("/")
    if not path or "//" in path or any(part in {".", ".."} for part in path.split("/")):
        raise ValueError(f"invalid Vault path {value!r}")
    return path


VaultPath = Annotated[str, AfterValidator(_vault_path)]


class Model(BaseModel):
    # The base of every config model: unknown fields are errors, values are frozen,
    # YAML spells fields in camelCase. (A comment, not a docstring: a docstring here
    # would become the description of every model in the schema.)
    # Attribute docstrings become field descriptions: the JSON Schema and the
    # configuration reference (docs/config-reference.md) are generated from them.
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel,
                              populate_by_name=True, hide_input_in_errors=True,
                              use_attribute_docstrings=True)
