"""A credential value that cannot leak by accident.

Values read from Vault are wrapped at the adapter boundary and stay wrapped
until the Kubernetes adapter encodes them into a Secret. ``str()``, ``repr()``,
f-strings, pickling and equality with plain strings all refuse to show the
value; only :meth:`SecretValue.reveal` returns it, and only the places that
must send it somewhere call that. Every wrapped value is also registered with
:mod:`syncer.scrub`, so any text that still contains it (a server's echo, a
traceback) is scrubbed before it is logged or printed.
"""

from __future__ import annotations

import base64
from typing import Any, NoReturn

from syncer import scrub
from syncer.scrub import digest


class SecretValue:
    """An opaque credential string."""

    __slots__ = ("_digest", "_value")

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("SecretValue wraps a str")
        self._value = value
        self._digest = digest(value.encode())
        scrub.register(value)

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


class BinaryValue(SecretValue):
    """Credential bytes that are not text (a Kerberos keytab), carried as the base64
    text a Secret's data holds: :meth:`reveal` returns that text, :func:`encode`
    sends it as it is, and the digest is of the bytes, as observed Secrets are."""

    __slots__ = ()

    def __init__(self, data: bytes) -> None:
        super().__init__(base64.b64encode(data).decode())
        self._digest = digest(data)


class PublicValue(SecretValue):
    """A value from the config file that a Secret holds beside credentials (a host
    name, a namenode URL): not secret, so it is shown in output and not scrubbed
    from logs, where a short common word would otherwise be redacted everywhere."""

    __slots__ = ()

    def __init__(self, value: str) -> None:  # no super(): nothing to register for scrubbing
        if not isinstance(value, str):
            raise TypeError("PublicValue wraps a str")
        self._value = value
        self._digest = digest(value.encode())

    def __repr__(self) -> str:
        return self._value

    __str__ = __repr__


def encode(body: Any) -> Any:
    """A request body with each SecretValue leaf as the base64 string the API expects.

    The one place values are revealed for sending (the Kubernetes adapter, and
    ``render --reveal``, which must print exactly what would be sent)."""
    if isinstance(body, BinaryValue):
        return body.reveal()  # already the base64 of its bytes
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
