"""Entries that would fight over one object or key, and those that may share: which
configs are refused. Table-driven over whole configs."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from syncer.errors import ConfigError
from syncer.loader import parse


def s3(name: str, target: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "type": "s3",
            "vault": {"path": f"p/{name}", "keys": {"accessKeyId": "a", "secretAccessKey": "b"}},
            "targets": [target]}


def errors(*creds: dict[str, Any]) -> list[str]:
    text = yaml.safe_dump({"vault": {"address": "http://127.0.0.1:8200",
                                     "auth": {"method": "token", "token": "t"}},
                           "credentials": list(creds)})
    try:
        parse(text, environ={})
    except ConfigError as err:
        return err.errors
    return []


SELECTOR = {"namespaceSelector": {"matchLabels": {"team": "x"}}}


@pytest.mark.parametrize(("first", "second", "clash"), [
    # A selector may match any namespace: it overlaps a list, in either order.
    ({**SELECTOR, "secret": "s"}, {"namespaces": ["a"], "secret": "s"}, True),
    ({"namespaces": ["a"], "secret": "s"}, {**SELECTOR, "secret": "s"}, True),
    ({"namespaces": ["a"], "secret": "s"}, {"namespaces": ["b"], "secret": "s"}, False),
    # Storage-spec keys: one writer per key; "default" only from entries that ask for it.
    ({"namespaces": ["a"], "storageConfig": {"key": "m", "default": True}},
     {"namespaces": ["a"], "storageConfig": {"key": "n"}}, False),
    ({"namespaces": ["a"], "storageConfig": {"key": "m", "default": True}},
     {"namespaces": ["a"], "storageConfig": {"key": "n", "default": True}}, True),
    ({"namespaces": ["a"], "storageConfig": {"key": "m"}},
     {**SELECTOR, "storageConfig": {"key": "m"}}, True),
    # default: true writes default_s3 too, which another entry may name as its key.
    ({"namespaces": ["a"], "storageConfig": {"key": "default_s3"}},
     {"namespaces": ["a"], "storageConfig": {"key": "n", "default": True}}, True),
])
def test_two_entries(first: dict[str, Any], second: dict[str, Any], clash: bool) -> None:
    found = errors(s3("one", first), s3("two", second))
    assert bool(found) is clash, found
    assert all(e.startswith("credentials[1].targets[0]") for e in found), found
