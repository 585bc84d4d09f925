"""Turn API objects (decoded JSON) into the small records the diff needs. Pure.

A Secret's values are digested here and dropped: nothing downstream of a list
or a watch event holds a credential the cluster sent us, so a cluster-wide
list of thousands of Secrets stays small and cannot leak.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from sys import intern
from typing import Any

from syncer.model import (
    DEFAULT_INSTANCE,
    GROUP,
    INSTANCE_LABEL,
    KSERVE_PREFIX,
    MANAGED_BY_LABEL,
    Namespace,
    ObservedSecret,
    ObservedServiceAccount,
)
from syncer.scrub import digest


def _our(items: dict[str, str], keep: Callable[[str], bool]) -> dict[str, str]:
    """The entries ``keep`` accepts, keys and values interned: the same few annotation,
    label and data key names repeat in every one of thousands of records a list or the
    watch cache holds, and so do most values (a path's source, hash and key digests on
    each of its targets, KServe's annotations on every Secret, the sync time of a
    batch); JSON decoding makes each a new string."""
    return {intern(k): intern(v) for k, v in items.items() if keep(k) and isinstance(v, str)}


# Our labels take a handful of shapes across thousands of objects: one shared dict per
# shape. Nothing mutates an observed record's dicts (the records are frozen).
_LABEL_SHAPES: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
_MAX_SHAPES = 64


def _shared(labels: dict[str, str]) -> dict[str, str]:
    key = tuple(sorted(labels.items()))
    found = _LABEL_SHAPES.get(key)
    if found is not None:
        return found
    if len(_LABEL_SHAPES) < _MAX_SHAPES:
        _LABEL_SHAPES[key] = labels
    return labels


def _meta(item: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = item.get("metadata") or {}
    return meta


def _our_labels(meta: dict[str, Any], instance: str) -> dict[str, str]:
    """Our labels - none at all when another installation (sync.instance) wrote the
    object, so everything downstream treats it as not ours."""
    labels = meta.get("labels") or {}
    if labels.get(INSTANCE_LABEL, DEFAULT_INSTANCE) != instance:
        return {}
    return _shared(_our(labels, lambda k: k in (MANAGED_BY_LABEL, INSTANCE_LABEL)))


def observed_secret(item: dict[str, Any], instance: str = DEFAULT_INSTANCE) -> ObservedSecret:
    meta = _meta(item)
    annotations = _our(meta.get("annotations") or {},
                       lambda k: k.startswith((GROUP + "/", KSERVE_PREFIX)))
    digests = {intern(k): intern(digest(base64.b64decode(v)))
               for k, v in (item.get("data") or {}).items()}
    return ObservedSecret(namespace=intern(meta.get("namespace", "")),
                          name=intern(meta.get("name", "")),
                          uid=meta.get("uid", ""),
                          resource_version=meta.get("resourceVersion", ""),
                          type=item.get("type") or "Opaque", labels=_our_labels(meta, instance),
                          annotations=annotations, key_digests=digests)


def observed_service_account(item: dict[str, Any], instance: str = DEFAULT_INSTANCE
                             ) -> ObservedServiceAccount:
    meta = _meta(item)
    annotations = _our(meta.get("annotations") or {}, lambda k: k.startswith(GROUP + "/"))
    secrets = tuple(intern(s.get("name", "")) for s in item.get("secrets") or [])
    pulls = tuple(intern(s.get("name", "")) for s in item.get("imagePullSecrets") or [])
    return ObservedServiceAccount(namespace=intern(meta.get("namespace", "")),
                                  name=intern(meta.get("name", "")), uid=meta.get("uid", ""),
                                  resource_version=meta.get("resourceVersion", ""),
                                  labels=_our_labels(meta, instance), annotations=annotations,
                                  secrets=secrets, image_pull_secrets=pulls)


def namespace(item: dict[str, Any]) -> Namespace:
    meta = _meta(item)
    terminating = ((item.get("status") or {}).get("phase") == "Terminating"
                   or bool(meta.get("deletionTimestamp")))
    return Namespace(meta["name"], meta.get("labels") or {}, terminating=terminating)
