"""Count requests from the servers' own records: the kube-apiserver audit log
and OpenBao's file audit device. Both are JSON lines appended as requests
complete; a reader remembers an offset (``mark``) and reads what came after."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

KUBE_WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


class _JsonLines:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.offset = 0

    def _size(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def settle(self, quiet: float = 0.3, limit: float = 10.0) -> None:
        """Wait (bounded) until the file has stopped growing for ``quiet`` seconds."""
        deadline = time.monotonic() + limit
        last, since = self._size(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            size = self._size()
            if size != last:
                last, since = size, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return

    def mark(self) -> None:
        self.settle()
        self.offset = self._size()

    def read(self) -> list[dict[str, Any]]:
        self.settle()
        if not self.path.exists():
            return []
        with self.path.open("rb") as fh:
            fh.seek(self.offset)
            data = fh.read()
        # A last line still being written is left for the next read.
        return [json.loads(line) for line in data.split(b"\n") if line.strip()
                and line.rstrip().endswith(b"}")]


class KubeAudit(_JsonLines):
    """kube-apiserver audit events (Metadata level for secrets, serviceaccounts, namespaces)."""

    def requests(self, username: str) -> list[dict[str, Any]]:
        return [e for e in self.read()
                if (e.get("user") or {}).get("username") == username
                and e.get("stage", "ResponseComplete") == "ResponseComplete"]

    @staticmethod
    def summary(events: list[dict[str, Any]]) -> dict[str, Any]:
        """Counts of one actor's requests. ``writes``, ``lists`` and ``gets`` are on the
        objects it manages; the Events it posts about them are counted apart."""
        objects = [e for e in events if _resource(e) != "events"]
        by_verb = Counter(e["verb"] for e in objects)
        by_kind = Counter(f"{e['verb']} {_resource(e) or '?'}" for e in events)
        errors = sum(1 for e in events if _code(e) >= 400)
        posted = [e for e in events if _resource(e) == "events"]
        return {"requests": len(events), "writes": sum(by_verb[v] for v in KUBE_WRITE_VERBS),
                "lists": by_verb["list"], "gets": by_verb["get"], "errors": errors,
                "event_creates": sum(1 for e in posted if e["verb"] == "create"),
                "event_patches": sum(1 for e in posted if e["verb"] == "patch"),
                "event_errors": sum(1 for e in posted if _code(e) >= 400),
                "by_verb": dict(by_verb), "by_kind": dict(by_kind)}


def _resource(event: dict[str, Any]) -> str:
    return str((event.get("objectRef") or {}).get("resource") or "")


def _code(event: dict[str, Any]) -> int:
    return int((event.get("responseStatus") or {}).get("code", 200))


class BaoAudit(_JsonLines):
    """OpenBao file-audit entries: one ``request`` and one ``response`` per request."""

    def requests(self, policy: str, login_paths: tuple[str, ...]) -> list[dict[str, Any]]:
        return [e for e in self.read() if e.get("type") == "request"
                and _ours(e, policy, login_paths)]

    def exchanges(self, policy: str, login_paths: tuple[str, ...]) -> list[dict[str, Any]]:
        """Our requests and their responses, in log order (``bench/vaultstats.py``
        pairs them by request id)."""
        return [e for e in self.read() if e.get("type") in ("request", "response")
                and _ours(e, policy, login_paths)]

    @staticmethod
    def summary(entries: list[dict[str, Any]], login_paths: tuple[str, ...]
                ) -> dict[str, Any]:
        paths = [(e.get("request") or {}).get("path", "") for e in entries]
        return {
            "requests": len(entries),
            "kv_reads": sum(1 for p in paths if p.startswith("secret/data/")),
            "logins": sum(1 for p in paths if p in login_paths),
            "renewals": sum(1 for p in paths if p == "auth/token/renew-self"),
            "lookups": sum(1 for p in paths if p == "auth/token/lookup-self"),
            "other": sum(1 for p in paths if not (
                p.startswith("secret/data/") or p in login_paths
                or p in ("auth/token/renew-self", "auth/token/lookup-self"))),
        }


def _ours(entry: dict[str, Any], policy: str, login_paths: tuple[str, ...]) -> bool:
    path = (entry.get("request") or {}).get("path", "")
    policies = (entry.get("auth") or {}).get("policies") or []
    return policy in policies or path in login_paths
