"""``status`` (syncer/status.py): Vault's version against the cluster's, drift and
conflicts, from metadata only; with in-memory Vault metadata and cluster lists."""

from __future__ import annotations

import json

import pytest
import yaml

from syncer import diff, render, report, status
from syncer.errors import VaultError
from syncer.loader import parse
from syncer.model import ANN_SOURCE, MANAGED_BY_LABEL, Namespace, ObservedSecret, VaultData
from syncer.observed import observed_secret
from syncer.secretvalue import SecretValue, encode

CONFIG = parse("""
vault: {address: "http://v:8200", auth: {method: token, token: t}}
credentials:
  - name: s3
    type: s3
    vault: {path: p/s3, keys: {accessKeyId: ak, secretAccessKey: sk}}
    targets: [{namespaces: [a], secret: s3-secret}]
""")
KEY = ("secret", "p/s3", 2, None)


@pytest.mark.parametrize(("sources", "version"), [
    ("secret/p/s3@3", "3"), ("other/x@1,secret/p/s3@12", "12"), ("secret/p/s3", "-"),
    ("secret/p/s3x@2", "missing"), ("", "missing")])
def test_version_in(sources: str, version: str) -> None:
    assert status.version_in(sources, KEY) == version


class Vault:
    def __init__(self, current: int | None = None) -> None:
        self.current = current

    def read_metadata(self, mount: str, path: str) -> tuple[int | None, str | None]:
        if self.current is None:
            raise VaultError(f"metadata {mount}/{path}: HTTP 503", status=503)
        return self.current, None


class Cluster:
    def __init__(self, secret: ObservedSecret | None) -> None:
        self.secret = secret

    def namespaces(self) -> dict[str, Namespace]:
        return {"a": Namespace("a", {})}

    def managed_secrets(self, namespaces: object = None) -> dict[tuple[str, str],
                                                                 ObservedSecret]:
        if self.secret is None or not self.secret.managed:
            return {}
        return {("a", "s3-secret"): self.secret}

    def get_secret(self, namespace: str, name: str) -> ObservedSecret | None:
        return self.secret


def written(version: int, *, tamper: bool = False, ours: bool = True) -> ObservedSecret:
    """The Secret as our first sync of ``version`` wrote it (optionally edited since)."""
    desired = render.render(CONFIG, namespaces={"a": Namespace("a", {})}, vault={KEY: (
        VaultData(mount="secret", path="p/s3", version=version,
                         data={"ak": SecretValue("AKIA0001"), "sk": SecretValue("sk-value-1")}))}
                            ).secrets[("a", "s3-secret")]
    [create] = diff.diff_secret(desired, None, now="t")
    body = encode(create.body)
    if tamper:
        body["data"]["AWS_ACCESS_KEY_ID"] = "dGFtcGVyZWQ="
    if not ours:
        body["metadata"]["labels"].pop(MANAGED_BY_LABEL)
    return observed_secret(body)


ROWS: list[tuple[str, ObservedSecret | None, int | None, str]] = [
    ("in sync", written(2), 2, "in sync"),
    ("rotated in Vault", written(2), 3, "stale"),
    ("edited by hand", written(2, tamper=True), 2, "drift"),
    ("never synced", None, 2, "missing"),
    ("someone else's Secret", written(2, ours=False), 2, "conflict"),
    ("Vault unreachable", written(2), None, "vault error"),
]


@pytest.mark.parametrize(("case", "secret", "vault_version", "state"), ROWS,
                         ids=[r[0] for r in ROWS])
def test_rows(case: str, secret: ObservedSecret | None, vault_version: int | None,
              state: str) -> None:
    [row] = status.rows(CONFIG, Vault(vault_version), Cluster(secret))
    assert row.state == state
    if secret is not None and secret.managed:
        assert row.cluster_version == "2" and secret.annotations[ANN_SOURCE] == "secret/p/s3@2"


def test_table_aligns_columns() -> None:
    rows = status.rows(CONFIG, Vault(2), Cluster(written(2)))
    header, line = report.status_lines(rows, status.HEADER, "table")
    assert header.split() == [w for h in status.HEADER for w in h.split()]
    assert line.split()[:2] == ["a", "s3-secret"] and line.index("s3-secret") == \
        header.index("SECRET")


def test_json_and_yaml_are_the_same_document() -> None:
    rows = status.rows(CONFIG, Vault(3), Cluster(written(2)))
    [text] = report.status_lines(rows, status.HEADER, "json")
    document = json.loads(text)
    assert document["kind"] == "Status" and document["apiVersion"] == report.API_VERSION
    [item] = document["items"]
    assert item["state"] == "stale" and item["vaultVersion"] == "3"
    assert item["clusterVersion"] == "2"
    [text] = report.status_lines(rows, status.HEADER, "yaml")
    assert yaml.safe_load(text) == document
