"""The Vault side of the config: jwt and cert auth, and AWS engine sources, each
error at its field (as the loader reports it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from syncer import render
from syncer.loader import parse
from tests.unit.configs import aws, cfg, errors_of, s3_cred

ROOT = Path(__file__).resolve().parents[2]


def vault(auth: dict[str, Any], address: str = "https://vault.example:8200") -> dict[str, Any]:
    return {"address": address, "auth": auth}


class TestAuth:
    def test_jwt_and_cert(self) -> None:
        jwt = parse(cfg(vault=vault({"method": "jwt", "role": "syncer",
                                     "jwtPath": "/var/run/secrets/vault/token"})))
        assert jwt.vault.auth.mount_point == "jwt"
        assert jwt.vault.auth.jwt_path == "/var/run/secrets/vault/token"
        cert = parse(cfg(vault=vault({"method": "cert", "mount": "tls", "clientCert": "c.pem",
                                      "clientKey": "k.pem"})))
        assert cert.vault.auth.mount_point == "tls" and cert.vault.auth.role is None

    @pytest.mark.parametrize(("auth", "address", "error"), [
        ({"method": "jwt"}, "https://v", "vault.auth.role: required for the jwt auth method"),
        ({"method": "cert", "clientKey": "k"}, "https://v",
         "vault.auth.clientCert: required for the cert auth method"),
        ({"method": "cert", "clientCert": "c"}, "https://v",
         "vault.auth.clientKey: required for the cert auth method"),
        ({"method": "cert", "clientCert": "c", "clientKey": "k"}, "http://v",
         "vault.address: the cert auth method needs https"),
        ({"method": "ldap"}, "https://v", "vault.auth.method"),
    ])
    def test_refused(self, auth: dict[str, Any], address: str, error: str) -> None:
        errors = errors_of(cfg(vault=vault(auth, address)))
        assert any(e.startswith(error) for e in errors), errors


class TestAwsEngine:
    def test_dynamic_role_fills_path_keys_mount(self) -> None:
        config = parse(cfg([aws(role="model-reader", overlap="10m", revokeAfter="1m")]))
        source = config.credentials[0].vault
        assert (source.mount, source.path, source.dynamic) == ("aws", "creds/model-reader", True)
        assert source.keys == {"accessKeyId": "access_key", "secretAccessKey": "secret_key"}
        assert (source.overlap_seconds, source.revoke_after_seconds) == (600, 60)
        assert render.source_key(config, config.credentials[0]) == (
            "aws", "creds/model-reader", render.LEASED, None)

    def test_static_role(self) -> None:
        config = parse(cfg([aws(staticRole="models", mount="aws-prod")]))
        source = config.credentials[0].vault
        assert (source.mount, source.path, source.dynamic) == (
            "aws-prod", "static-creds/models", False)
        assert render.source_key(config, config.credentials[0])[2] == render.PLAIN

    def test_defaults(self) -> None:
        source = parse(cfg([aws(role="r")])).credentials[0].vault
        assert (source.overlap_seconds, source.revoke_after_seconds) == (900, 300)

    @pytest.mark.parametrize(("cred", "error"), [
        (aws(), "credentials[0].vault.role: set exactly one of role"),
        (aws(role="a", staticRole="b"), "credentials[0].vault.role: set exactly one of role"),
        (aws(role="a", path="x"), "credentials[0].vault.path: not used with engine aws"),
        (aws(role="a", keys={"accessKeyId": "a"}), "credentials[0].vault.keys: not used"),
        (aws(role="a", kvVersion=1), "credentials[0].vault.kvVersion: not used"),
        (aws(staticRole="s", overlap="1m"), "credentials[0].vault.overlap: only for role"),
        (aws(staticRole="s", revokeAfter="1m"), "credentials[0].vault.revokeAfter: only for"),
        (aws(role="a", overlap="1m", revokeAfter="1m"),
         "credentials[0].vault.revokeAfter: 60s must be shorter than overlap (60s)"),
        (aws(role="no/slash"), "credentials[0].vault.role: 'no/slash' is not a valid"),
        (aws(role="a", overlap="soon"), "credentials[0].vault.overlap: invalid duration"),
        (s3_cred(vault={"path": "p", "keys": {"accessKeyId": "a", "secretAccessKey": "s"},
                        "role": "r"}), "credentials[0].vault.role: only for engine aws"),
        ({**aws(role="a"), "type": "hf"}, "credentials[0].vault.engine: aws gives S3 access"),
    ])
    def test_refused_at_the_field(self, cred: dict[str, Any], error: str) -> None:
        errors = errors_of(cfg([cred]))
        assert any(e.startswith(error) for e in errors), errors

    def test_one_entry_per_dynamic_role(self) -> None:
        second = {**aws(role="model-reader"), "name": "other",
                  "targets": [{"namespaces": ["team-b"], "secret": "s3-secret"}]}
        errors = errors_of(cfg([aws(role="model-reader"), second]))
        assert ("credentials[1].vault.role: aws/creds/model-reader already used by "
                "credentials[0]; give that entry more targets instead") in errors
        static = {**aws(staticRole="models"), "name": "other",
                  "targets": [{"namespaces": ["team-b"], "secret": "s3-secret"}]}
        parse(cfg([aws(staticRole="models"), static]))  # a static key may be shared

    def test_shipped_aws_mapping_validates(self) -> None:
        doc = yaml.safe_load((ROOT / "config" / "vault" / "aws-mapping.yaml").read_text())
        config = parse(yaml.safe_dump(doc), environ={"VAULT_TOKEN": "x"})
        assert [c.vault.dynamic for c in config.credentials] == [True, False]
