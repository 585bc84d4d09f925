"""Per-request client cost of the syncer's stack, piece by piece, without a server.

    .venv/bin/python -m bench.levers [--calls 2000]

Times (``timeit``, one thread, the fastest of 25 short repeats, which a busy
machine disturbs least) each piece a create
passes through in the syncer besides the network - the bearer-token refresh
of the kubernetes client, the retry wrapper, the log line, body encoding (see
``syncer_parts.probes``) - and scales it to ``--calls`` requests (2,000 = an
initial sync at 1,000 targets). Compare the total with the syncer's measured
client CPU in RESULTS.md: what is left is urllib3, http.client and TLS.
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import timeit
from pathlib import Path

from bench import syncer_parts

REPEATS = 25  # short repeats; the fastest is the least preempted


def _kubeconfig(folder: Path) -> Path:
    """A kubeconfig for a server that is never contacted (probes send nothing)."""
    path = folder / "kubeconfig"
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "probe",
        "clusters": [{"name": "probe", "cluster": {"server": "https://127.0.0.1:9",
                                                   "insecure-skip-tls-verify": True}}],
        "users": [{"name": "probe", "user": {"token": "probe-token"}}],
        "contexts": [{"name": "probe", "context": {"cluster": "probe", "user": "probe"}}]}))
    return path


def measure(calls: int) -> list[tuple[str, float]]:
    """(piece, microseconds per call)."""
    with tempfile.TemporaryDirectory(prefix="kvs-levers-") as tmp:
        probes = syncer_parts.probes(_kubeconfig(Path(tmp)))
        out = []
        for name, fn in probes.items():
            number = max(50, calls // 10)
            best = min(timeit.repeat(fn, number=number, repeat=REPEATS))
            out.append((name, best / number * 1e6))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000,
                        help="requests to scale to (2000 = initial sync at N = 1,000)")
    args = parser.parse_args(argv)
    rows = measure(args.calls)
    print(f"Environment variables in this process: {len(os.environ)} (the kubernetes "
          "client scans them for proxies on every token refresh).\n")
    print(f"| piece (per create) | us per call | s per {args.calls:,} calls |")
    print("|---|---|---|")
    for name, micros in rows:
        print(f"| {name} | {micros:,.1f} | {micros * args.calls / 1e6:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
