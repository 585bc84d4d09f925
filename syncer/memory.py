"""Remember, across runs and replicas, the namespaces we wrote to.

Only namespace-scoped mode needs it: there the syncer lists per namespace, so a
namespace dropped from the config would otherwise never be listed again and
what we wrote there would stay forever. The list lives in a small ConfigMap in
the syncer's own namespace (one more Role there; no cluster-wide read).
"""

from __future__ import annotations

from typing import Any, Protocol

from syncer.model import DEFAULT_INSTANCE, MANAGED_BY_LABEL, MANAGED_BY_VALUE

KEY = "namespaces"


class ConfigMapAPI(Protocol):
    def get_config_map(self, namespace: str, name: str) -> dict[str, Any] | None: ...
    def put_config_map(self, namespace: str, body: dict[str, Any]) -> None: ...


class NamespaceMemory:
    def __init__(self, api: ConfigMapAPI, *, namespace: str,
                 instance: str = DEFAULT_INSTANCE) -> None:
        self._api = api
        self.namespace = namespace
        # One per installation (sync.instance); the default keeps the plain name.
        self.name = "kserve-vault-sync-state" + (
            "" if instance == DEFAULT_INSTANCE else f"-{instance}")

    def load(self) -> set[str]:
        found = self._api.get_config_map(self.namespace, self.name)
        data = (found or {}).get("data") or {}
        return {n for n in str(data.get(KEY, "")).split(",") if n}

    def save(self, namespaces: set[str]) -> None:
        self._api.put_config_map(self.namespace, {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": self.name, "namespace": self.namespace,
                         "labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE}},
            "data": {KEY: ",".join(sorted(namespaces))}})
