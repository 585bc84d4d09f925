"""The small interfaces the cycle needs from Vault and Kubernetes.

``syncer.vault.VaultReader`` and ``syncer.kube.Kube`` implement them; tests
that inject faults implement them too, with only these methods.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from syncer.model import Namespace, ObservedSecret, ObservedServiceAccount, Ref, VaultData


class VaultPort(Protocol):
    def read(self, mount: str, path: str, kv_version: int, version: int | None = None
             ) -> VaultData: ...


class WorkloadPort(Protocol):
    """Consumers restarted after a rotation (Deployments, InferenceServices)."""

    def list_workloads(self, kind: str, namespace: str) -> list[dict[str, Any]]: ...
    def patch_workload(self, kind: str, namespace: str, name: str, body: dict[str, Any]
                       ) -> None: ...


class KubePort(WorkloadPort, Protocol):
    def namespaces(self) -> dict[str, Namespace]: ...
    def managed_secrets(self, namespaces: Iterable[str] | None = None
                        ) -> dict[Ref, ObservedSecret]: ...
    def managed_service_accounts(self, namespaces: Iterable[str] | None = None
                                 ) -> dict[Ref, ObservedServiceAccount]: ...
    def get_secret(self, namespace: str, name: str) -> ObservedSecret | None: ...
    def get_service_account(self, namespace: str, name: str
                            ) -> ObservedServiceAccount | None: ...
    def create(self, kind: str, namespace: str, body: dict[str, Any]) -> str: ...
    def patch(self, kind: str, namespace: str, name: str, body: dict[str, Any]) -> str: ...
    def delete(self, kind: str, namespace: str, name: str) -> None: ...
    def get_config_map(self, namespace: str, name: str) -> dict[str, Any] | None: ...
