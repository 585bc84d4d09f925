"""Config entries and Vault values the integration tests share."""

from __future__ import annotations

from typing import Any

import hvac

from tests import seeds


def s3_entry(name: str, path: str, namespaces: list[str], **target: Any) -> dict[str, Any]:
    return {
        "name": name, "type": "s3",
        "vault": {"path": path, "keys": {"accessKeyId": "access_key",
                                         "secretAccessKey": "secret_key"}},
        "s3": {"endpoint": "s3.amazonaws.com", "useHttps": True, "region": "us-east-1"},
        "targets": [{"namespaces": namespaces, "secret": "s3-secret",
                     "serviceAccount": "s3-sa", **target}],
    }


def hf_entry(name: str, path: str, namespaces: list[str], **target: Any) -> dict[str, Any]:
    return {"name": name, "type": "hf", "vault": {"path": path, "keys": {"token": "token"}},
            "targets": [{"namespaces": namespaces, "secret": "storage-config",
                         "serviceAccount": "hfserviceacc", **target}]}


def put_s3(bao: hvac.Client, path: str) -> tuple[str, str]:
    key_id, secret = seeds.fake("ak", "AKIA"), seeds.fake("sk")
    bao.secrets.kv.v2.create_or_update_secret(path, secret={"access_key": key_id,
                                                            "secret_key": secret})
    return key_id, secret


def put_hf(bao: hvac.Client, path: str) -> str:
    token = seeds.fake("hf", "hf_")
    bao.secrets.kv.v2.create_or_update_secret(path, secret={"token": token})
    return token
