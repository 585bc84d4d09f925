"""The CLI's exit codes and messages for bad input (no servers needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scripts import config_reference
from syncer import cli

GOOD = """
vault: {address: "http://127.0.0.1:8200", auth: {method: token, token: t}}
credentials:
  - name: hf
    type: hf
    vault: {path: p/hf, keys: {token: token}}
    targets: [{namespaces: [a], secret: storage-config}]
"""


@pytest.mark.parametrize(("text", "expected"), [
    ("vault: [\n", "line 2, column 1"),
    (GOOD.replace("secret: storage-config", "secret: storage-config, serviceAcount: x"),
     "credentials[0].targets[0].serviceAcount: unknown field"),
    (GOOD + GOOD.split("credentials:\n")[1], "credentials[1].name: 'hf' already used"),
])
def test_validate_exits_2_with_every_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           text: str, expected: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    assert cli.main(["validate", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err


def test_validate_ok_and_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                      ) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(GOOD)
    assert cli.main(["validate", "-c", str(path)]) == 0
    assert "ok (1 credentials, 1 targets)" in capsys.readouterr().out
    assert cli.main(["validate", "-c", str(tmp_path / "missing.yaml")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert cli.main(["frobnicate"]) == 2
    assert cli.main([]) == 2


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("kserve-vault-sync ")


def test_schema_and_reference_are_current(capsys: pytest.CaptureFixture[str]) -> None:
    """config/schema.json and docs/config-reference.md are what the model generates,
    and `schema` prints the same schema."""
    assert config_reference.main_check() == []
    assert cli.main(["schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(config_reference.SCHEMA.read_text())
    assert printed["properties"]["sync"]["$ref"] == "#/$defs/SyncSettings"


@pytest.mark.parametrize("kubeconfig", ["missing", "garbage"])
def test_a_bad_kubeconfig_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      kubeconfig: str) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(GOOD)
    path = tmp_path / "kubeconfig"
    if kubeconfig == "garbage":
        path.write_text("{not: [yaml")
    assert cli.main(["once", "-c", str(config), "--kubeconfig", str(path)]) == 1
    err = capsys.readouterr().err
    assert "no usable Kubernetes credentials" in err and "--kubeconfig" in err
    assert "Traceback" not in err


def test_an_unreadable_trigger_token_file_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
        ) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(GOOD)
    assert cli.main(["run", "-c", str(config), "--trigger-token-file",
                     str(tmp_path / "nope")]) == 1
    err = capsys.readouterr().err
    assert "--trigger-token-file" in err and "cannot read" in err and "Traceback" not in err
