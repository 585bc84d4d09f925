"""Where a syncer process spends its time: import time, cProfile, py-spy summaries.

Run the syncer's CLI in this process with every thread profiled (cProfile
covers only the thread that enables it; the writes happen in pool threads)::

    python -m bench.profiling OUT.prof once -c cfg.yaml --kubeconfig K

Each thread is profiled against its own CPU clock (``time.thread_time``), so
the profile says where CPU goes, not where threads wait. The parsers below
turn ``python -X importtime`` output, a pstats file and py-spy's raw
(collapsed-stack) output into top-N tables for RESULTS.md.
"""

from __future__ import annotations

import cProfile
import pstats
import re
import sys
import threading
import time
from collections import Counter
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SCRIPT = "kserve-vault-sync"
ADDRESS = re.compile(r" at 0x[0-9a-f]+")  # "<built-in method __new__ of type object at 0x..>"
IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def importtime_top(stderr: str, top: int = 15) -> dict[str, Any]:
    """The ``top`` imports by cumulative time, and the total (sum of top-level imports)."""
    rows: list[dict[str, Any]] = []
    for line in stderr.splitlines():
        match = IMPORT_LINE.match(line)
        if match:
            rows.append({"module": match.group(4), "self_ms": int(match.group(1)) / 1000,
                         "cumulative_ms": int(match.group(2)) / 1000,
                         "depth": (len(match.group(3)) - 1) // 2})
    total = sum(r["cumulative_ms"] for r in rows if r["depth"] == 0)
    ranked = sorted(rows, key=lambda r: -r["cumulative_ms"])[:top]
    return {"total_ms": total, "modules": len(rows), "top": ranked}


def short_path(filename: str) -> str:
    """A file named without this machine's layout: package-relative for installed code,
    repo-relative for ours, the last two parts otherwise (the standard library)."""
    path = Path(filename)
    if "site-packages" in path.parts:
        return "/".join(path.parts[path.parts.index("site-packages") + 1:])
    if path.is_relative_to(REPO):
        return str(path.relative_to(REPO))
    return "/".join(path.parts[-2:])


def _label(func: tuple[str, int, str]) -> str:
    filename, line, name = func
    if filename == "~":  # a builtin: name is e.g. "<method 'read' of '_ssl._SSLSocket'>"
        return ADDRESS.sub("", name)
    return f"{name} ({short_path(filename)}:{line})"


def pstats_top(prof: Path, top: int = 20) -> dict[str, Any]:
    """Top functions by cumulative and by self time from a pstats file."""
    stats = pstats.Stats(str(prof))
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    entries = [{"function": _label(func), "calls": nc, "self_s": tt, "cumulative_s": ct}
               for func, (_, nc, tt, ct, _) in table.items()]
    total: float = stats.total_tt  # type: ignore[attr-defined]
    return {"total_s": total, "parts": breakdown(prof),
            "by_cumulative": sorted(entries, key=lambda e: -e["cumulative_s"])[:top],
            "by_self": sorted(entries, key=lambda e: -e["self_s"])[:top]}


# Where an initial sync's CPU goes, by the cumulative time of one function per part
# (minus parts nested in it). (label, functions added, functions subtracted); a function
# is (end of its file name, its name).
Part = tuple[str, tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]
PARTS: tuple[Part, ...] = (
    ("start-up: importing the CLI", (("syncer/cli.py", "<module>"),), ()),
    ("config load and validation", (("syncer/cli.py", "load_config"),), ()),
    ("Vault reads (hvac, requests)", (("syncer/vault/reader.py", "read"),), ()),
    ("lists: namespaces, Secrets, ServiceAccounts", (("syncer/kube.py", "_list"),), ()),
    ("render", (("syncer/render.py", "render"),), ()),
    ("diff", (("syncer/diff.py", "diff_secret"), ("syncer/diff.py", "diff_service_account")),
     ()),
    ("writes: everything under the writer (most of the parts below)",
     (("syncer/reconcile.py", "apply"),), ()),
    ("kube requests: bearer token refresh (the client re-reads proxies from os.environ)",
     (("kubernetes/client/api_client.py", "update_params_for_auth"),), ()),
    ("kube requests: urllib3, http.client and TLS", (("urllib3/poolmanager.py", "urlopen"),), ()),
    ("kube requests: kubernetes client call_api, without urllib3", (
        ("kubernetes/client/api_client.py", "call_api"),),
     (("urllib3/poolmanager.py", "urlopen"),)),
    ("kube requests: body encoding (syncer kube.encode)", (("syncer/kube.py", "encode"),), ()),
    ("retry wrapper (tenacity), without the kube or Vault request it wraps",
     (("tenacity/__init__.py", "__call__"),),
     (("syncer/kube.py", "once"), ("syncer/vault/reader.py", "_read_once"))),
    ("log lines (structlog + redaction)", (("structlog/_native.py", "meth"),), ()),
)


def breakdown(prof: Path) -> list[dict[str, Any]]:
    """CPU seconds and share of the profiled total for each of ``PARTS``."""
    stats = pstats.Stats(str(prof))
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total: float = stats.total_tt  # type: ignore[attr-defined]

    def cumulative(wanted: tuple[tuple[str, str], ...]) -> float:
        return float(sum(ct for (filename, _, name), (_, _, _, ct, _) in table.items()
                         if any(filename.endswith(f) and name == n for f, n in wanted)))

    out = []
    for label, plus, minus in PARTS:
        seconds = cumulative(plus) - cumulative(minus)
        out.append({"part": label, "seconds": seconds,
                    "share": seconds / total if total else 0.0})
    return out


def _frame_matches(frame: str, wanted: tuple[tuple[str, str], ...]) -> bool:
    """A py-spy frame "Class.name (path/file.py:line)" against (file suffix, name)."""
    name, _, where = frame.partition(" (")
    filename = where.rsplit(":", 1)[0]
    return any(filename.endswith(f) and (name == n or name.endswith("." + n))
               for f, n in wanted)


def pyspy_top(raw: Path, rate: int, top: int = 20) -> dict[str, Any]:
    """Top frames by self and cumulative samples from py-spy's ``--format raw`` output,
    and the samples of each of ``PARTS`` (stacks holding one of its functions and none
    of those subtracted)."""
    self_count: Counter[str] = Counter()
    cumulative: Counter[str] = Counter()
    parts: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        self_count[frames[-1]] += count
        for frame in set(frames):
            cumulative[frame] += count
        for label, plus, minus in PARTS:
            if any(_frame_matches(f, plus) for f in frames) and not any(
                    _frame_matches(f, minus) for f in frames):
                parts[label] += count

    def rank(counter: Counter[str]) -> list[dict[str, Any]]:
        return [{"function": f, "samples": c, "share": c / total if total else 0.0,
                 "seconds": c / rate} for f, c in counter.most_common(top)]

    return {"samples": total, "rate": rate, "seconds": total / rate,
            "parts": [{"part": label, "seconds": parts[label] / rate,
                       "share": parts[label] / total if total else 0.0}
                      for label, _, _ in PARTS],
            "by_cumulative": rank(cumulative), "by_self": rank(self_count)}


def _profile_threads(profiles: list[cProfile.Profile]) -> None:
    """Make every thread started from now on run under its own profiler."""
    original = threading.Thread.run

    def run(self: threading.Thread) -> None:
        prof = cProfile.Profile(time.thread_time)
        profiles.append(prof)
        prof.enable()
        try:
            original(self)
        finally:
            prof.disable()

    threading.Thread.run = run  # type: ignore[method-assign]


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: python -m bench.profiling OUT.prof <kserve-vault-sync arguments>",
              file=sys.stderr)
        return 2
    out, args = Path(argv[0]), argv[1:]
    profiles: list[cProfile.Profile] = []
    _profile_threads(profiles)
    main_prof = cProfile.Profile(time.thread_time)
    code = 0
    main_prof.enable()
    try:
        # The console script's own entry point, loaded under the profiler (imports count).
        (entry,) = metadata.entry_points(group="console_scripts", name=SCRIPT)
        code = int(entry.load()(args))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        main_prof.disable()
    stats = pstats.Stats(main_prof)
    for prof in profiles:
        stats.add(prof)
    stats.dump_stats(str(out))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
