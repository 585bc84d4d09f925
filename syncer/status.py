"""``kserve-vault-sync status``: per managed Secret, Vault's version against the
cluster's, the last write, drift (someone changed what we wrote) and conflict
(an object or key of that name that we do not own).

Reads KV v2 *metadata* only, never a secret value; one label-selected list,
plus a GET only for an expected Secret that is not in it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from syncer import diff, kserve, render, settings
from syncer.errors import SyncError
from syncer.model import ANN_SOURCE, ANN_SYNCED_AT, Namespace, ObservedSecret, Ref

HEADER = ("NAMESPACE", "SECRET", "CREDENTIAL", "SOURCE", "VAULT", "CLUSTER", "LAST WRITE",
          "DRIFT", "CONFLICT", "STATE")


class StatusVault(Protocol):
    def read_metadata(self, mount: str, path: str) -> tuple[int | None, str | None]: ...


class StatusKube(Protocol):
    def namespaces(self) -> dict[str, Namespace]: ...
    def managed_secrets(self, namespaces: Iterable[str] | None = None
                        ) -> dict[Ref, ObservedSecret]: ...
    def get_secret(self, namespace: str, name: str) -> ObservedSecret | None: ...


@dataclass(frozen=True, kw_only=True)
class Row:
    namespace: str
    secret: str
    credential: str
    source: str
    vault_version: str
    cluster_version: str
    last_write: str
    drift: bool
    conflict: bool
    state: str

    def cells(self) -> tuple[str, ...]:
        return (self.namespace, self.secret, self.credential, self.source, self.vault_version,
                self.cluster_version, self.last_write, "yes" if self.drift else "no",
                "yes" if self.conflict else "no", self.state)


def _vault_versions(config: settings.Config, vault: StatusVault) -> dict[render.SourceKey, str]:
    versions: dict[render.SourceKey, str] = {}
    for key in render.distinct_sources(config):
        mount, path, kv_version, pinned = key
        if kv_version != 2:
            versions[key] = "-"  # KV v1 has no versions
            continue
        try:
            current, _ = vault.read_metadata(mount, path)
            versions[key] = str(pinned or current)
        except SyncError:
            versions[key] = "error"
    return versions


def version_in(sources: str, key: render.SourceKey) -> str:
    """The version of ``key``'s path recorded in a ``kserve-vault-sync/source`` annotation."""
    prefix = f"{key[0]}/{key[1]}"
    for src in sources.split(","):
        if src == prefix:
            return "-"
        if src.startswith(prefix + "@"):
            return src.rsplit("@", 1)[1]
    return "missing"


def _conflict(obs: ObservedSecret | None, keys: list[str], shared: bool) -> bool:
    if obs is None:
        return False
    if not shared:
        return not obs.owned_whole
    owned = obs.managed_keys if obs.managed else set()
    return any(k in obs.key_digests and k not in owned for k in keys)


def rows(config: settings.Config, vault: StatusVault, kube: StatusKube) -> list[Row]:
    namespaces = kube.namespaces()
    scope = render.target_namespaces(config, namespaces) if config.sync.namespace_scoped else None
    observed = kube.managed_secrets(scope)
    versions = _vault_versions(config, vault)
    shared_names = {config.kserve.storage_spec_secret_name}
    out: list[Row] = []
    for cred in config.credentials:
        key = render.source_key(config, cred)
        for target in cred.targets:
            wanted: list[tuple[str, list[str]]] = []
            if target.secret:
                wanted.append((target.secret, list(kserve.secret_keys(config, cred))))
            if target.storage_config:
                sc = target.storage_config
                shared_names.add(config.storage_secret_name(target))
                wanted.append((config.storage_secret_name(target),
                               [sc.key] + (["default", "default_s3"] if sc.default else [])))
            names, _ = render.resolve_namespaces(target, namespaces)
            for ns in names:
                for name, keys in wanted:
                    obs = observed.get((ns, name)) or kube.get_secret(ns, name)
                    out.append(_row(obs, ns=ns, name=name, credential=cred.name, key=key,
                                    vault_version=versions[key], keys=keys,
                                    shared=name in shared_names))
    return out


def _row(obs: ObservedSecret | None, *, ns: str, name: str, credential: str,
         key: render.SourceKey, vault_version: str, keys: list[str], shared: bool) -> Row:
    ours = obs is not None and obs.managed
    recorded = obs.annotations.get(ANN_SOURCE, "") if obs and ours else ""
    cluster = version_in(recorded, key)
    drift = obs is not None and diff.observed_drift(obs)
    conflict = _conflict(obs, keys, shared)
    return Row(namespace=ns, secret=name, credential=credential, source=f"{key[0]}/{key[1]}",
               vault_version=vault_version, cluster_version=cluster,
               last_write=obs.annotations.get(ANN_SYNCED_AT, "-") if obs and ours else "-",
               drift=drift, conflict=conflict,
               state=_state(obs, vault_version, cluster, drift, conflict))


def _state(obs: ObservedSecret | None, vault_version: str, cluster_version: str, drift: bool,
           conflict: bool) -> str:
    if obs is None or cluster_version == "missing":
        return "conflict" if conflict else "missing"
    if conflict:
        return "conflict"
    if vault_version == "error":
        return "vault error"
    if drift:
        return "drift"
    if vault_version not in ("-", cluster_version):
        return "stale"
    return "in sync"
