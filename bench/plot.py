"""Plot time and RSS against N from bench/results.json (run in the bench venv).

    <bench-venv>/bin/python bench/plot.py results.json results.png

matplotlib is not a project dependency: bench/report.py runs this file with
the python of a cached venv under ~/.cache/kserve-vault-sync/bench-venv.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def _series(rows: list[dict[str, Any]], *keys: str) -> tuple[list[int], list[float]]:
    xs, ys = [], []
    for row in rows:
        value: object = row
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, int | float):
            xs.append(row["n"])
            ys.append(float(value))
    return xs, ys


def main(src: str, dst: str) -> None:
    with open(src) as fh:
        rows = sorted(json.load(fh)["sizes"], key=lambda r: r["n"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    for keys, label, style in (
            (("initial", "cycle"), "syncer initial sync (cycle)", "o-"),
            (("initial", "wall"), "syncer initial sync (process wall)", "o:"),
            (("floor", "seconds"), "raw-client floor (creates only)", "s-"),
            (("noop", "wall"), "syncer no-op (process wall)", "^-"),
            (("rotation", "wall"), "rotation of 10% (process wall)", "v-"),
            (("script", "estimate_seconds"), "script baseline (sampled, extrapolated)", "x--")):
        xs, ys = _series(rows, *keys)
        if xs:
            left.plot(xs, ys, style, label=label)
    left.set(xscale="log", yscale="log", xlabel="targets N (N Secrets + N ServiceAccounts)",
             ylabel="seconds", title="Time against N")
    left.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=8)
    for keys, label, style in ((("initial", "peak_rss_mib"), "peak RSS, initial sync", "o-"),
                               (("daemon", "steady_rss_mib"), "steady RSS, daemon", "s-"),
                               (("daemon", "peak_rss_mib"), "peak RSS, daemon", "s:")):
        xs, ys = _series(rows, *keys)
        if xs:
            right.plot(xs, ys, style, label=label)
    right.axhline(150, color="red", linestyle="--", linewidth=1, label="target: 150 MiB steady")
    right.set(xscale="log", xlabel="targets N", ylabel="MiB", title="Syncer RSS against N")
    right.set_ylim(bottom=0)
    right.grid(True, which="both", alpha=0.3)
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(dst, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
