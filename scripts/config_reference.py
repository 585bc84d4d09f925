"""Regenerate (or, with --check, verify) the config's JSON Schema and reference.

    .venv/bin/python -m scripts.config_reference [--check]

Both come from the pydantic model (syncer/settings.py, whose attribute
docstrings are the descriptions): ``config/schema.json`` for editors
(``# yaml-language-server: $schema=...``) and ``docs/config-reference.md``.
The test suite runs ``--check``, so neither can drift from the code.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from syncer import settings

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "config" / "schema.json"
REFERENCE = ROOT / "docs" / "config-reference.md"


def _type(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[1]
        return f"[{name}](#{name.lower()})"
    if "enum" in prop:
        return " \\| ".join(f"`{v}`" for v in prop["enum"])
    if "const" in prop:
        return f"`{prop['const']}`"
    if "anyOf" in prop:
        kinds = [_type(p) for p in prop["anyOf"] if p.get("type") != "null"]
        text = " or ".join(dict.fromkeys(kinds))
        return text + (" (optional)" if any(p.get("type") == "null" for p in prop["anyOf"])
                       else "")
    kind = prop.get("type", "any")
    if kind == "array":
        return f"list of {_type(prop.get('items', {}))}"
    if kind == "object" and "additionalProperties" in prop:
        return f"map of {_type(prop['additionalProperties'])}"
    if kind == "string" and prop.get("pattern", "").startswith("^(\\d+"):
        return "duration"
    return str(kind)


def _default(prop: dict[str, Any], required: bool) -> str:
    if required:
        return "**required**"
    if "default" not in prop:
        return "-"
    return f"`{json.dumps(prop['default'])}`"


def _section(name: str, model: dict[str, Any]) -> list[str]:
    lines = [f"## {name}", ""]
    if model.get("description"):
        lines += [" ".join(model["description"].split()), ""]
    lines += ["| field | type | default | description |", "|---|---|---|---|"]
    required = set(model.get("required", []))
    for field, prop in model.get("properties", {}).items():
        text = " ".join(prop.get("description", "").split()).replace("|", "\\|")
        lines.append(f"| `{field}` | {_type(prop)} | {_default(prop, field in required)} "
                     f"| {text} |")
    return [*lines, ""]


def reference(schema: dict[str, Any]) -> str:
    lines = ["# Configuration reference", "",
             "Generated from the config model by `python -m scripts.config_reference`; do "
             "not edit by hand. The same model gives [`config/schema.json`](../config/"
             "schema.json): add `# yaml-language-server: $schema=<path or URL of "
             "schema.json>` at the top of a mapping file and editors check it as you type. "
             "Durations are `30s`, `5m`, `1h30m` or seconds; shares are `10%` or `0.1`. "
             "[Configuration](configuration.md) explains the choices.", ""]
    lines += _section("Config (the file)", schema)
    for name in sorted(schema.get("$defs", {})):
        lines += _section(name, schema["$defs"][name])
    return "\n".join(lines).rstrip() + "\n"


def main_check() -> list[Path]:
    """The generated files that differ from the model (empty when current)."""
    schema = settings.json_schema()
    wanted = {SCHEMA: json.dumps(schema, indent=2) + "\n", REFERENCE: reference(schema)}
    return [p for p, text in wanted.items() if not p.exists() or p.read_text() != text]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="fail if the committed files differ from the model")
    args = parser.parse_args()
    stale = main_check()
    if args.check:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is out of date: run "
                  "`python -m scripts.config_reference`", file=sys.stderr)
        return 1 if stale else 0
    schema = settings.json_schema()
    wanted = {SCHEMA: json.dumps(schema, indent=2) + "\n", REFERENCE: reference(schema)}
    for path in stale:
        path.write_text(wanted[path])
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
