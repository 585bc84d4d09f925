"""Scrub known secret values out of free text, in every form a server may echo.

Every value wrapped in a SecretValue is registered here with the forms it can
take on the way back to us: plain, base64 (Secret data), JSON-escaped (a value
quoted inside an error body), URL-encoded. Matching is also insensitive to
whitespace, so a multi-line value (a GCS key file) whose line breaks a server
reflowed, or a base64 form wrapped over lines, is still found.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from urllib.parse import quote

# Values shorter than this are not scrubbed from free text: "1" or "us" would
# match everywhere. The wrapper's repr still hides them.
MIN_SCRUB_LEN = 4

def digest(data: bytes) -> str:
    """Short, stable content hash used for diffs and in redacted output."""
    return hashlib.sha256(data).hexdigest()[:16]


def _squeeze(text: str) -> str:
    return "".join(text.split())


def _build(forms: set[str]) -> dict[str, list[str]]:
    index: dict[str, list[str]] = {}
    for form in sorted(forms, key=len, reverse=True):
        index.setdefault(form[:MIN_SCRUB_LEN], []).append(form)
    return index


def _spans(text: str, index: dict[str, list[str]]) -> list[tuple[int, int, str]]:
    """(start, end, matched form) of every known form in ``text``, left to right."""
    spans: list[tuple[int, int, str]] = []
    i, end = 0, len(text) - MIN_SCRUB_LEN
    while i <= end:
        for form in index.get(text[i:i + MIN_SCRUB_LEN], ()):
            if text.startswith(form, i):
                spans.append((i, i + len(form), form))
                i += len(form)
                break
        else:
            i += 1
    return spans


def _replace(text: str, spans: list[tuple[int, int, str]]) -> str:
    parts, last = [], 0
    for start, stop, form in spans:
        parts += [text[last:start], f"<redacted sha256:{digest(form.encode())}>"]
        last = stop
    parts.append(text[last:])
    return "".join(parts)


class Registry:
    """Known values, and the indexes that find them in one pass over a text."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._forms: set[str] = set()  # every registered form, exactly
        self._squeezed: set[str] = set()  # every form with its whitespace removed
        # Forms indexed by their first MIN_SCRUB_LEN characters, longest first, rebuilt
        # only when a new value is registered: scrubbing a log line is then one pass
        # over the line, not one search per known value (thousands at scale).
        self._index: dict[str, list[str]] = {}
        self._squeezed_index: dict[str, list[str]] = {}
        self._indexed_size = -1

    def register(self, value: str) -> None:
        """Remember ``value`` and the forms a server may echo it in."""
        if len(value) < MIN_SCRUB_LEN:
            return
        forms = {value, base64.b64encode(value.encode()).decode(), json.dumps(value)[1:-1],
                 json.dumps(value, ensure_ascii=False)[1:-1], quote(value, safe="")}
        with self._lock:
            self._forms.update(forms)
            self._squeezed.update(s for s in map(_squeeze, forms) if len(s) >= MIN_SCRUB_LEN)

    def _indexes(self) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        with self._lock:
            if self._indexed_size != len(self._forms) + len(self._squeezed):
                self._index = _build(self._forms)
                self._squeezed_index = _build(self._squeezed)
                self._indexed_size = len(self._forms) + len(self._squeezed)
            return self._index, self._squeezed_index

    def scrub(self, text: str) -> str:
        """Replace every known secret value inside ``text``, in any registered form."""
        index, squeezed_index = self._indexes()
        if not index or len(text) < MIN_SCRUB_LEN:
            return text
        spans = _spans(text, index)
        out = _replace(text, spans) if spans else text
        if not any(c.isspace() for c in out):
            return out
        # Whitespace-insensitive pass: search the text with its whitespace removed and
        # map each match back to the span of the original it came from.
        positions = [i for i, c in enumerate(out) if not c.isspace()]
        squeezed = "".join(out[i] for i in positions)
        found = _spans(squeezed, squeezed_index)
        if not found:
            return out
        return _replace(out, [(positions[a], positions[b - 1] + 1, form)
                              for a, b, form in found])


_REGISTRY = Registry()
register = _REGISTRY.register
scrub = _REGISTRY.scrub
