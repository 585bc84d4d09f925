"""What ``once`` and ``status`` print: a table for people, JSON or YAML for scripts.

The JSON and YAML documents are a stable interface (``apiVersion`` says which
shape): fields are only ever added. Pure: it formats what it is given, and it
never holds a value (results carry names, paths and reasons only).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any, Literal

import yaml

from syncer.outcome import Summary

Format = Literal["table", "json", "yaml"]
FORMATS: tuple[Format, ...] = ("table", "json", "yaml")
API_VERSION = "kserve-vault-sync/v1"


def table(rows: Sequence[Sequence[str]]) -> list[str]:
    """Columns padded to the widest cell; the last column is not padded."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return ["  ".join([*(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)), r[-1]])
            .rstrip() for r in rows]


def summary_document(summary: Summary) -> dict[str, Any]:
    counts = summary.counts
    return {
        "apiVersion": API_VERSION, "kind": "SyncResult",
        "dryRun": summary.dry_run,
        "failed": summary.failed,
        "objects": [{"kind": o.kind, "namespace": o.namespace, "name": o.name,
                     "result": o.outcome, "detail": o.reason,
                     "credentials": list(o.credentials)} for o in summary.objects],
        "failedEntries": [{"credential": e.credential, "reason": e.reason}
                          for e in summary.errors],
        "problems": list(summary.problems),
        "warnings": list(summary.warnings),
        "counts": {k: counts[k] for k in sorted(counts)},
        "vaultReads": summary.vault_reads,
        "durationSeconds": round(summary.duration, 3),
    }


def summary_lines(summary: Summary, fmt: Format) -> list[str]:
    if fmt != "table":
        return _dump(summary_document(summary), fmt)
    rows = [("KIND", "NAMESPACE", "NAME", "RESULT", "DETAIL")]
    rows += [(o.kind, o.namespace, o.name, o.outcome, o.reason) for o in summary.objects]
    lines = table(rows)
    lines += [f"FAILED {e.reason}" for e in summary.errors]
    lines += [f"WARNING {w}" for w in summary.warnings]
    lines += [f"FAILED {p}" for p in summary.problems]
    counts = summary.counts
    lines.append(f"{'dry run: ' if summary.dry_run else ''}{len(summary.objects)} objects: "
                 + ", ".join(f"{counts[k]} {k}" for k in sorted(counts))
                 + f"; {summary.vault_reads} Vault reads; {len(summary.errors)} failed "
                 f"entries; {summary.duration:.2f}s")
    return lines


def status_lines(rows: Sequence[Any], header: Sequence[str], fmt: Format) -> list[str]:
    """``rows`` are status.Row dataclasses; ``header`` their table headings."""
    if fmt == "table":
        return table([tuple(header), *(r.cells() for r in rows)])
    items = [{_camel(k): v for k, v in asdict(r).items()} for r in rows]
    return _dump({"apiVersion": API_VERSION, "kind": "Status", "items": items}, fmt)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def _dump(document: dict[str, Any], fmt: Format) -> list[str]:
    if fmt == "json":
        return [json.dumps(document, indent=2, sort_keys=False)]
    return [yaml.safe_dump(document, sort_keys=False).rstrip("\n")]
