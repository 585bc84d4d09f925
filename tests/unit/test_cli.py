"""The CLI's exit codes and messages for bad input (no servers needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

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
