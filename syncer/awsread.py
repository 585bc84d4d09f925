"""The cycle's view of Vault when some credentials come from the AWS engine: a
VaultPort that sends leased sources to :class:`syncer.awskeys.AwsKeys`, notes
when a static role's key changes, and passes KV reads through - so
``reconcile`` needs no knowledge of engines.
"""

from __future__ import annotations

from syncer import render, settings
from syncer.awskeys import AwsKeys
from syncer.leasestore import LeaseStore, StateSecretAPI
from syncer.model import VaultData
from syncer.ports import VaultPort
from syncer.vault import VaultReader


def reader(keys: AwsKeys, config: settings.Config, vault: VaultPort) -> VaultPort:
    """The VaultPort for one cycle: AWS sources through ``keys``, the rest to ``vault``."""
    keys.begin_cycle()
    return _CycleReader(keys, config, vault)


class _CycleReader:
    """One cycle's VaultPort: leased keys from AwsKeys, static keys noted, KV as before."""

    def __init__(self, keys: AwsKeys, config: settings.Config, vault: VaultPort) -> None:
        self._keys, self._vault = keys, vault
        self._horizon = config.sync.interval * (1 + config.sync.jitter)
        self._by_source: dict[tuple[str, str], list[settings.Credential]] = {}
        for cred in config.credentials:
            if cred.vault.engine == "aws":
                key = render.source_key(config, cred)
                self._by_source.setdefault((key[0], key[1]), []).append(cred)

    def read(self, mount: str, path: str, kv_version: int, version: int | None = None
             ) -> VaultData:
        creds = self._by_source.get((mount, path), [])
        if kv_version == render.LEASED and creds:
            return self._keys.lease_key(creds[0], self._horizon)  # one entry per role
        data = self._vault.read(mount, path, kv_version, version)
        if kv_version == render.PLAIN:
            for cred in creds:
                self._keys.saw_static(cred.name, data)
        return data


def build(vault: VaultReader, kube: StateSecretAPI, *, namespace: str, instance: str,
          dry_run: bool = False) -> AwsKeys:
    """The keeper for a command or the daemon: the reader's AWS engine, and the lease
    store in the syncer's own namespace (read only when a dynamic credential needs it)."""
    return AwsKeys(vault.aws, LeaseStore(kube, namespace=namespace, instance=instance),
                   dry_run=dry_run)
