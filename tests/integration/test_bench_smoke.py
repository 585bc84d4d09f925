"""A tiny-N run of the scale benchmark (bench/, issue 8) so the harness cannot rot.

N = 10 through every step the full run takes - the Go floor (built through its
cache) at each concurrency and the Python-client floor, initial sync, no-op,
rotation, daemon with a short-TTL AppRole, script baseline (2 targets), the
profile step (import time, cProfile) and RESULTS.md - against the session's real
servers, counting from the audit logs and CPU from /proc. Values put into Vault
come from tests.seeds, so the leak guard watches them.
"""

from __future__ import annotations

import json
import pstats
import subprocess
import sys
from pathlib import Path

import pytest

from bench import run as bench_run
from devenv import servers
from tests import seeds

pytestmark = pytest.mark.integration


def test_bench_smoke(devenv: servers.Env, tmp_path: Path) -> None:
    opts = bench_run.Options(sizes=[10], script_sample=2, daemon_seconds=6.0,
                             daemon_interval=1.0, token_ttl=3, token_max_ttl=6,
                             profile_sizes=(10,), repeat=2,
                             kv_metadata=(5,), values=seeds.fake)
    out, json_out = tmp_path / "RESULTS.md", tmp_path / "results.json"
    results = bench_run.run(opts, env=devenv, workdir=tmp_path / "work", out=out,
                            json_out=json_out, png=None, command="smoke")

    (row,) = results["sizes"]
    assert row["errors"] == [], row["errors"]
    assert row["floor"]["created"] == 20
    assert row["floor"]["kube"]["writes"] == 20
    # The Go floor, twice (--repeat 2): every concurrency created all 20 objects over
    # HTTP/2, as streams of one connection, and the API server saw exactly those writes.
    go = [f for f in row["floors"] if f["impl"] == "go"]
    assert [(f["rep"], f["concurrency"]) for f in go] == [
        (rep, c) for rep in (0, 1) for c in (8, 32, 64, 128)]
    for floor in go:
        assert floor["impl"] == "go" and floor["rc"] == 0, floor
        assert floor["proto"] == "HTTP/2.0" and floor["connections"] == 1, floor
        assert floor["created"] == 20 and floor["kube"]["writes"] == 20, floor
        assert floor["kube"]["by_kind"] == {"create secrets": 10,
                                            "create serviceaccounts": 10}, floor
    assert row["go_floor"]["concurrency"] in (8, 32, 64, 128)
    assert row["go_floor"]["seconds"] == min(f["seconds"] for f in go)
    assert row["vs_go_floor"] > 0 and row["work_vs_go_floor"] > 0
    # Each repetition's initial sync started from nothing and wrote everything.
    assert [i["kube"]["writes"] for i in row["initial_runs"]] == [20, 20]
    initial = row["initial"]
    assert initial["rc"] == 0
    assert initial["kube"]["writes"] == 20 and initial["writes"] == 20
    assert initial["peak_rss_mib"] > 10
    # CPU from /proc and rusage: the syncer's own process and the API server both worked.
    assert initial["cpu"]["client"] > 0 and initial["cpu"]["kube-apiserver"] > 0
    assert initial["cpu"]["machine"] >= initial["cpu"]["client"]
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
    # Vault side from OpenBao's audit device: classes, rate, latency from paired entries.
    vault = initial["vault"]
    assert vault["by_class"]["kv data"] == 1 and vault["kv_distinct_paths"] == 1
    assert vault["latency_ms"]["paired"] == vault["requests"] and vault["rate_per_s"] > 0
    assert vault["kv_latency_ms"]["p99"] >= vault["kv_latency_ms"]["p50"] > 0
    # Events: the syncer posted them (the bench's role allows it; the audit policy records
    # them), and they are not counted as object writes.
    assert initial["kube"]["event_creates"] >= 1 and initial["kube"]["event_errors"] == 0
    assert rotation["kube"]["event_creates"] >= 1
    # The daemon's no-op cycles, attributed from both audit logs: one read of the one
    # path per cycle, no writes, and (the watch cache) cycles without a list.
    cycles = daemon["noop"]
    assert cycles["cycles"] == daemon["cycles"] - 1 >= 2
    assert cycles["one_read_per_path"] and cycles["writes"] == 0
    assert cycles["cycles_without_lists"] >= 1
    assert daemon["vault"]["noop"]["by_class"]["login/token"] >= 1
    # ... then a rotation the running daemon applied, with its Events.
    rotated = daemon["rotation"]
    assert rotated["applied"] == rotated["expected_writes"] == 10
    assert rotated["writes"] >= 10 and rotated["event_creates"] >= 1
    assert rotated["seconds_until_applied"] > 0
    # KV v2 metadata vs data reads with the syncer's reader, sequential and 8 threads.
    assert [(m["paths"], m["threads"]) for m in results["kv_metadata"]] == [(5, 1), (5, 8)]
    assert all(m["data_s"] > 0 and m["metadata_s"] > 0 for m in results["kv_metadata"])
    script = row["script"]
    assert script["rc"] == 0 and script["sample"] == 2 and script["extrapolated"]
    assert script["kube"]["writes"] >= 4  # a Secret and a ServiceAccount per target

    profile = row["profile"]
    assert all(profile["importtime"][c]["rc"] == 0 for c in ("help", "validate", "once"))
    assert any(m["module"] == "syncer.cli" for m in profile["importtime"]["help"]["top"])
    cprofile = profile["cprofile"]
    assert cprofile["rc"] == 0 and cprofile["total_s"] > 0
    # The writes run in the syncer's pool threads: all 20 creates are in the profile only
    # if those threads were profiled too.
    prof = pstats.Stats(str(tmp_path / "work" / "initial-10.prof"))
    # Stats.stats is real but missing from typeshed (bench/profiling.py reads it too).
    creates = [calls for (filename, _, name), (_, calls, _, _, _)
               in prof.stats.items()  # type: ignore[attr-defined]
               if filename.endswith("syncer/kube.py") and name == "create"]
    assert creates == [20]

    # The per-request probes of the syncer's client stack still run (no server needed).
    levers = subprocess.run([sys.executable, "-m", "bench.levers", "--calls", "100"],
                            capture_output=True, text=True, timeout=300, check=True).stdout
    assert levers.count("\n| ") == 6, levers  # the header and five probes

    text = out.read_text()
    assert "N = 10 targets" in text and "## Machine" in text
    assert "Go floor x128" in text and "Top 20 by self CPU" in text
    for section in ("Vault side, from OpenBao", "Daemon cycles, from the audit logs",
                    "Kubernetes Events the syncer posted", "## KV v2: metadata reads",
                    "Vault reads stay one per distinct path per cycle"):
        assert section in text, section
    assert json.loads(json_out.read_text())["sizes"][0]["n"] == 10
