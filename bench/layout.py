"""The benchmark's target layout: N targets, P = N/10 Vault paths, N/10 namespaces.

A *target* is one Secret plus the ServiceAccount that lists it, so N targets
are 2N objects. Namespaces hold 10 targets each (slots 0-9: ``s3-secret-<k>``
listed in ``sa-<k>``). Target ``t`` lives in namespace ``t // 10``, slot
``t % 10``.

Paths: the first 10 % of targets (namespaces 0 .. N/100-1, every slot) share
the *hot* path ``p00000`` - the one the rotation step changes. The other 90 %
are cut into P-1 contiguous runs, one per remaining path (about 9 targets
each). Each path is one ``type: s3`` credential whose targets are grouped by
slot, each slot listing its namespaces - the shape a user writes by hand.
With N = 10 there is one path, so the "10 %" rotation changes every target.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

SLOTS = 10
VAULT_KEYS = {"accessKeyId": "access_key", "secretAccessKey": "secret_key"}


@dataclass(frozen=True)
class Target:
    index: int
    namespace: str
    secret: str
    service_account: str
    path: int  # index of its Vault path


@dataclass(frozen=True)
class Layout:
    n: int
    prefix: str  # namespace prefix, unique per run and size
    vault_prefix: str  # KV v2 path prefix
    targets: tuple[Target, ...]
    paths: int

    @property
    def namespaces(self) -> list[str]:
        return sorted({t.namespace for t in self.targets})

    @property
    def hot_targets(self) -> list[Target]:
        return [t for t in self.targets if t.path == 0]

    def path(self, index: int) -> str:
        return f"{self.vault_prefix}/p{index:05d}"

    def credential_name(self, index: int) -> str:
        return f"p{index:05d}"


def make(n: int, prefix: str, vault_prefix: str) -> Layout:
    if n < 1:
        raise ValueError("N must be at least 1")
    paths = max(1, n // 10)
    hot = max(1, math.ceil(n / 10))
    rest = n - hot
    targets = []
    for t in range(n):
        # The hot 10 % on path 0; the rest in contiguous runs over paths 1..P-1.
        path = 0 if t < hot or paths == 1 else 1 + ((t - hot) * (paths - 1)) // rest
        targets.append(Target(t, f"{prefix}-{t // SLOTS:04d}", f"s3-secret-{t % SLOTS}",
                              f"sa-{t % SLOTS}", path))
    return Layout(n, prefix, vault_prefix, tuple(targets), paths)


def config(layout: Layout, *, vault_address: str, auth: dict[str, Any],
           interval: str = "60s", jitter: str = "10%", concurrency: int = 8) -> str:
    """The syncer's mapping for this layout, as YAML (JSON is YAML)."""
    by_path: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for t in layout.targets:
        by_path[t.path][f"{t.secret}|{t.service_account}"].append(t.namespace)
    credentials = []
    for p in sorted(by_path):
        targets = []
        for key, namespaces in sorted(by_path[p].items()):
            secret, sa = key.split("|")
            targets.append({"namespaces": namespaces, "secret": secret, "serviceAccount": sa})
        credentials.append({
            "name": layout.credential_name(p), "type": "s3",
            "vault": {"path": layout.path(p), "keys": VAULT_KEYS},
            "s3": {"endpoint": "minio.minio.svc:9000", "useHttps": False,
                   "region": "us-east-1"},
            "targets": targets,
        })
    doc = {
        "vault": {"address": vault_address, "auth": auth, "kv": {"mount": "secret", "version": 2}},
        "sync": {"interval": interval, "jitter": jitter, "concurrency": concurrency},
        "credentials": credentials,
    }
    return json.dumps(doc, indent=1)
