"""Config documents the unit tests build: a valid base to vary, and the errors a
bad one gives."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from syncer.errors import ConfigError
from syncer.loader import parse


def cfg(credentials: list[dict[str, Any]] | None = None, **top: Any) -> str:
    doc: dict[str, Any] = {"vault": {"address": "http://127.0.0.1:8200",
                                     "auth": {"method": "token", "token": "t"}}}
    doc["credentials"] = credentials if credentials is not None else [s3_cred()]
    doc.update(top)
    return yaml.safe_dump(doc)


def s3_cred(**over: Any) -> dict[str, Any]:
    cred: dict[str, Any] = {
        "name": "team-a-s3", "type": "s3",
        "vault": {"path": "kserve/team-a/s3",
                  "keys": {"accessKeyId": "access_key", "secretAccessKey": "secret_key"}},
        "targets": [{"namespaces": ["team-a"], "secret": "s3-secret",
                     "serviceAccount": "s3-sa"}],
    }
    cred.update(over)
    return cred


def errors_of(text: str, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse(text, source="c.yaml", environ=environ or {})
    return err.value.errors


def aws(**source: Any) -> dict[str, Any]:
    return s3_cred(vault={"engine": "aws", **source})
