"""Typed reads of kubernetes client models as the API server returned them.

The client's models type every field optional (a body a caller sends may leave
any of them out). An object read back from the server has the ones these
helpers read; each asserts that, so a missing one fails the test by name
instead of as an AttributeError or TypeError further on.
"""

from __future__ import annotations

from typing import Protocol

from kubernetes import client as k8s


class Stored(Protocol):
    """Any kubernetes client model with object metadata."""

    @property
    def metadata(self) -> k8s.V1ObjectMeta | None: ...


def meta(obj: Stored) -> k8s.V1ObjectMeta:
    """``obj.metadata``: the API server sets it on every object it returns."""
    assert obj.metadata is not None, f"a {type(obj).__name__} without metadata"
    return obj.metadata


def name_of(obj: Stored) -> str:
    found = meta(obj).name
    assert found is not None, f"a {type(obj).__name__} without a name"
    return found


def labels_of(obj: Stored) -> dict[str, str]:
    """The object's labels; the object must have some."""
    found = meta(obj).labels
    assert found is not None, f"{type(obj).__name__} {meta(obj).name} has no labels"
    return found


def annotations_of(obj: Stored) -> dict[str, str]:
    """The object's annotations; the object must have some."""
    found = meta(obj).annotations
    assert found is not None, f"{type(obj).__name__} {meta(obj).name} has no annotations"
    return found


def listed(account: k8s.V1ServiceAccount) -> list[str]:
    """The names in a ServiceAccount's ``secrets`` list, in order; it must have one."""
    assert account.secrets is not None, f"ServiceAccount {meta(account).name} lists no Secrets"
    names: list[str] = []
    for ref in account.secrets:
        assert ref.name is not None, f"ServiceAccount {meta(account).name} lists a nameless ref"
        names.append(ref.name)
    return names


def data_of(secret: k8s.V1Secret) -> dict[str, bytes | str]:
    """A Secret's ``data`` as the server returns it (base64 values); it must have some."""
    assert secret.data is not None, f"Secret {meta(secret).name} has no data"
    return secret.data
