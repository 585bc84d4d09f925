"""A tiny-N run of the scale benchmark (bench/, issue 8) so the harness cannot rot.

N = 10 through every step the full run takes - floor, initial sync, no-op,
rotation, daemon with a short-TTL AppRole, script baseline (2 targets) and
RESULTS.md - against the session's real servers, counting from the audit logs.
Values put into Vault come from tests.seeds, so the leak guard watches them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import run as bench_run
from devenv import servers
from tests import seeds

pytestmark = pytest.mark.integration


def test_bench_smoke(devenv: servers.Env, tmp_path: Path) -> None:
    opts = bench_run.Options(sizes=[10], script_sample=2, daemon_seconds=6.0,
                             daemon_interval=1.0, token_ttl=3, token_max_ttl=6,
                             values=seeds.fake)
    out, json_out = tmp_path / "RESULTS.md", tmp_path / "results.json"
    results = bench_run.run(opts, env=devenv, workdir=tmp_path / "work", out=out,
                            json_out=json_out, png=None, command="smoke")

    (row,) = results["sizes"]
    assert row["errors"] == [], row["errors"]
    assert row["floor"]["created"] == 20
    assert row["floor"]["kube"]["writes"] == 20
    initial = row["initial"]
    assert initial["rc"] == 0
    assert initial["kube"]["writes"] == 20 and initial["writes"] == 20
    assert initial["peak_rss_mib"] > 10
    noop = row["noop"]
    assert noop["rc"] == 0
    assert noop["kube"]["writes"] == 0
    assert noop["kube"]["gets"] == 0 and 1 <= noop["kube"]["lists"] <= 5
    assert noop["vault"]["kv_reads"] == row["paths"] == 1
    rotation = row["rotation"]
    # One path at N = 10: the rotation changes every target's Secret and nothing else.
    assert rotation["kube"]["writes"] == rotation["expected_writes"] == 10
    assert rotation["applied"] == 10
    daemon = row["daemon"]
    assert daemon["cycles"] >= 3
    assert daemon["steady_rss_mib"] and daemon["steady_rss_mib"] > 10
    assert 1 <= daemon["vault"]["logins"] <= daemon["expected_logins"]
    script = row["script"]
    assert script["rc"] == 0 and script["sample"] == 2 and script["extrapolated"]
    assert script["kube"]["writes"] >= 4  # a Secret and a ServiceAccount per target

    text = out.read_text()
    assert "N = 10 targets" in text and "## Machine" in text
    assert json.loads(json_out.read_text())["sizes"][0]["n"] == 10
