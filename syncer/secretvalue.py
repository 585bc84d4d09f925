"""A credential value that cannot leak by accident.

Values read from Vault are wrapped at the adapter boundary and stay wrapped
until the Kubernetes adapter encodes them into a Secret. ``str()``, ``repr()``,
f-strings, pickling and equality with plain strings all refuse to show the
value; only :meth:`SecretValue.reveal` returns it, and only the places that
must send it somewhere call that. Every wrapped value is also registered so
the log redaction processor can scrub it from any text that still contains it.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from typing import Any, NoReturn

_registry_lock = threading.Lock()
_registry: set[str] = set()

# Values shorter than this are not scrubbed from free text: "1" or "us" would
# match everywhere. The wrapper's repr still hides them.
MIN_SCRUB_LEN = 4


def digest(data: bytes) -> str:
    """Short, stable content hash used for diffs and in redacted output."""
    return hashlib.sha256(data).hexdigest()[:16]


class SecretValue:
    """An opaque credential string."""

    __slots__ = ("_digest", "_value")

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("SecretValue wraps a str")
        self._value = value
        self._digest = digest(value.encode())
        if len(value) >= MIN_SCRUB_LEN:
            # The base64 form too: Kubernetes API bodies and errors carry it.
            encoded = base64.b64encode(value.encode()).decode()
            with _registry_lock:
                _registry.update((value, encoded))

    def reveal(self) -> str:
        """Return the plain value. Call only where it is sent to its destination."""
        return self._value

    @property
    def sha(self) -> str:
        return self._digest

    def __len__(self) -> int:
        return len(self._value)

    def __repr__(self) -> str:
        return f"<redacted sha256:{self._digest}>"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretValue) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._digest)

    def __reduce__(self) -> NoReturn:
        raise TypeError("SecretValue cannot be pickled")

    def __deepcopy__(self, memo: dict[int, Any]) -> SecretValue:
        return self


def encode(body: Any) -> Any:
    """A request body with each SecretValue leaf as the base64 string the API expects.

    The one place values are revealed for sending (the Kubernetes adapter, and
    ``render --reveal``, which must print exactly what would be sent)."""
    if isinstance(body, SecretValue):
        return base64.b64encode(body.reveal().encode()).decode()
    if isinstance(body, dict):
        return {k: encode(v) for k, v in body.items()}
    if isinstance(body, list):
        return [encode(v) for v in body]
    return body


def redact(body: Any) -> Any:
    """The same body with each SecretValue leaf as its ``<redacted sha256:…>`` form."""
    if isinstance(body, SecretValue):
        return repr(body)
    if isinstance(body, dict):
        return {k: redact(v) for k, v in body.items()}
    if isinstance(body, list):
        return [redact(v) for v in body]
    return body


# Values indexed by their first MIN_SCRUB_LEN characters, longest first, rebuilt
# only when a new value is registered: scrubbing a log line is then one pass
# over the line, not one search per known value (thousands at scale).
_index: dict[str, list[str]] = {}
_index_size = -1


def _scrub_index() -> dict[str, list[str]]:
    global _index, _index_size
    with _registry_lock:
        if _index_size != len(_registry):
            index: dict[str, list[str]] = {}
            for value in sorted(_registry, key=len, reverse=True):
                index.setdefault(value[:MIN_SCRUB_LEN], []).append(value)
            _index, _index_size = index, len(_registry)
        return _index


def scrub(text: str) -> str:
    """Replace every known secret value (plain or base64) inside ``text``."""
    index = _scrub_index()
    if not index or len(text) < MIN_SCRUB_LEN:
        return text
    parts: list[str] = []
    start = i = 0
    end = len(text) - MIN_SCRUB_LEN
    while i <= end:
        for value in index.get(text[i:i + MIN_SCRUB_LEN], ()):
            if text.startswith(value, i):
                parts.append(text[start:i])
                parts.append(f"<redacted sha256:{digest(value.encode())}>")
                i = start = i + len(value)
                break
        else:
            i += 1
    if not parts:
        return text
    parts.append(text[start:])
    return "".join(parts)
