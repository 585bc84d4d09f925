"""The Vault policy shipped in config/vault-policy.hcl is exactly enough: with it
the example mapping syncs and `status` reads versions; without it the syncer
fails clearly and writes nothing. On both servers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import hvac
import pytest
import yaml

from devenv import servers
from tests import seeds
from tests.helpers import AuditLog, WriteConfig
from tests.vaultsetup import BOTH_SERVERS

pytestmark = [pytest.mark.integration, BOTH_SERVERS]
ROOT = Path(__file__).resolve().parents[2]
Cli = Callable[..., tuple[int, str]]


def test_shipped_policy_is_enough_and_needed(bao: hvac.Client, cli: Cli, namespace: str,
                                             write_config: WriteConfig, devenv: servers.Env,
                                             audit: AuditLog) -> None:
    bao.sys.create_or_update_policy("kserve-vault-sync-test",
                                    (ROOT / "config" / "vault-policy.hcl").read_text())
    bao.secrets.kv.v2.create_or_update_secret("kserve/team-a/s3", secret={
        "access_key": seeds.fake("policy-ak", "AKIA"), "secret_key": seeds.fake("policy-sk")})
    bao.secrets.kv.v2.create_or_update_secret("kserve/shared/hf", secret={
        "token": seeds.fake("policy-hf", "hf_")})
    bao.secrets.kv.v2.create_or_update_secret("kserve/team-b/s3", secret={
        "access_key": "AKIAOTHER", "secret_key": seeds.fake("policy-other")})
    example = yaml.safe_load((ROOT / "config" / "example.yaml").read_text())
    credentials = example["credentials"]
    for cred in credentials:
        for target in cred["targets"]:
            target["namespaces"] = [namespace]
    token = bao.auth.token.create(policies=["kserve-vault-sync-test"], no_default_policy=True,
                                  ttl="10m")["auth"]["client_token"]
    seeds.register("policy-token", token)
    auth = {"method": "token", "token": token}
    config = str(write_config(credentials, vault={"auth": auth}))
    code, out = cli("once", "-c", config)
    assert code == 0, out
    code, out = cli("status", "-c", config)
    assert code == 0 and "in sync" in out, out
    # A path outside the policy: refused, clearly, and nothing is written for it.
    credentials[0]["vault"]["path"] = "kserve/team-b/s3"
    credentials[0]["targets"][0]["namespaces"] = [namespace]
    audit.mark()
    code, out = cli("once", "-c", str(write_config(credentials, vault={"auth": auth})))
    assert code == 1 and "read secret/kserve/team-b/s3: permission denied" in out
    assert audit.writes(namespaces={namespace}) == []
