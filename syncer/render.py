"""Render the desired Kubernetes objects from the config and Vault data. Pure.

Which namespaces each target reaches, which Vault values are fit to write
(never an empty, partial or malformed one), and which Secret keys and
ServiceAccount entries result. The KServe-specific encodings live in
:mod:`syncer.kserve`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from syncer import kserve, secretdata, settings
from syncer.errors import ValueRejected
from syncer.model import (
    DesiredSecret,
    DesiredServiceAccount,
    EntryError,
    KeyValue,
    Namespace,
    Ref,
    VaultData,
    VaultFailure,
)
from syncer.secretvalue import SecretValue

MAX_SECRET_BYTES = 1024 * 1024  # Kubernetes' limit on a Secret's data

SourceKey = tuple[str, str, int, int | None]  # (mount, path, kv version, pinned version)
# The third slot says how the path is read: 1 or 2, a KV engine of that version;
# PLAIN, one GET of another engine's path (an AWS static role's key); LEASED, a key
# issued under a lease, which syncer.awskeys issues, renews and revokes.
PLAIN, LEASED = 0, -1


@dataclass
class Rendered:
    secrets: dict[Ref, DesiredSecret] = field(default_factory=dict)
    service_accounts: dict[Ref, DesiredServiceAccount] = field(default_factory=dict)
    errors: list[EntryError] = field(default_factory=list)
    # Not failures, but worth saying: a namespaceSelector that matches nothing.
    warnings: list[str] = field(default_factory=list)


def source_key(config: settings.Config, cred: settings.Credential) -> SourceKey:
    if cred.vault.engine == "aws":
        assert cred.vault.mount is not None  # filled in by VaultSource for the aws engine
        return (cred.vault.mount, cred.vault.path, LEASED if cred.vault.dynamic else PLAIN,
                None)
    return (cred.vault.mount or config.vault.kv.mount, cred.vault.path,
            cred.vault.kv_version or config.vault.kv.version, cred.vault.version)


def distinct_sources(config: settings.Config, only: Iterable[str] | None = None
                     ) -> list[SourceKey]:
    """Each Vault path once, however many credentials and targets use it."""
    wanted = set(only) if only is not None else None
    keys = {source_key(config, c) for c in config.credentials
            if wanted is None or c.name in wanted}
    return sorted(keys, key=lambda k: (k[0], k[1], k[2], k[3] or 0))


def resolve_namespaces(target: settings.Target, cluster: Mapping[str, Namespace]
                       ) -> tuple[list[str], list[str]]:
    """Namespaces a target writes to, and problems with the ones it names."""
    problems: list[str] = []
    if target.namespace_selector is not None:
        want = target.namespace_selector.match_labels
        names = sorted(n.name for n in cluster.values()
                       if not n.terminating and all(n.labels.get(k) == v for k, v in want.items()))
        return names, problems
    names = []
    for name in target.namespaces:
        ns = cluster.get(name)
        if ns is None:
            problems.append(f"namespace {name!r} does not exist")
        elif ns.terminating:
            problems.append(f"namespace {name!r} is terminating")
        else:
            names.append(name)
    return names, problems


def target_namespaces(config: settings.Config, namespaces: Mapping[str, Namespace]
                      ) -> set[str]:
    """Every namespace any target writes to (what namespace-scoped RBAC must cover).
    All entries, not only an --only subset, so prune never misses one."""
    return {ns for cred in config.credentials for target in cred.targets
            for ns in resolve_namespaces(target, namespaces)[0]}


def credential_values(cred: settings.Credential, data: VaultData) -> dict[str, SecretValue]:
    """Logical key -> value, checked so no empty, partial or malformed value is written."""
    values: dict[str, SecretValue] = {}
    total = 0
    for logical, vault_key in sorted(cred.vault.keys.items()):
        where = f"vault.keys.{logical}: key {vault_key!r} at {data.source}"
        if vault_key in data.non_string_keys:
            raise ValueRejected(f"{where} is not a string")
        value = data.data.get(vault_key)
        if value is None:
            raise ValueRejected(f"{where} is missing")
        text = value.reveal()
        if not text:
            raise ValueRejected(f"{where} is empty")
        values[logical] = secretdata.checked(cred.type, logical, value, where)
        total += len(text.encode())
    if total > MAX_SECRET_BYTES:
        raise ValueRejected(f"values at {data.source} total {total} bytes, over the 1 MiB "
                            "Secret limit")
    return values


def render(config: settings.Config, *, namespaces: Mapping[str, Namespace],
           vault: Mapping[SourceKey, VaultData | VaultFailure],
           only: Iterable[str] | None = None) -> Rendered:
    """Build every desired object. ``vault`` maps each source to its data or its failure."""
    out = Rendered()
    wanted = set(only) if only is not None else None
    shared_names = {config.kserve.storage_spec_secret_name} | {
        t.storage_config.secret_name for c in config.credentials for t in c.targets
        if t.storage_config and t.storage_config.secret_name}
    for index, cred in enumerate(config.credentials):
        if wanted is not None and cred.name not in wanted:
            continue
        got = vault.get(source_key(config, cred), VaultFailure("not read this cycle"))
        values: dict[str, SecretValue] | None = None
        source = ""
        if isinstance(got, VaultFailure):
            out.errors.append(EntryError(cred.name,
                                         f"credentials[{index}] ({cred.name}): {got.reason}"))
        else:
            source = got.source
            try:
                values = credential_values(cred, got)
            except ValueRejected as exc:
                out.errors.append(EntryError(cred.name,
                                             f"credentials[{index}] ({cred.name}): {exc}"))
        # What each of its Secrets holds is the same for every target and namespace:
        # built once per credential (10,000 targets: 5 % of a no-op cycle otherwise).
        data = (secretdata.secret_data(config, cred, values)
                if values is not None and any(t.secret for t in cred.targets) else None)
        s3_annotations = kserve.s3_annotations(cred.s3) if cred.type == "s3" else {}
        for t_index, target in enumerate(cred.targets):
            names, problems = resolve_namespaces(target, namespaces)
            if target.namespace_selector is not None and not names:
                why = (f"credentials[{index}].targets[{t_index}].namespaceSelector "
                       f"({cred.name}): matches no namespace "
                       f"{dict(target.namespace_selector.match_labels)}")
                if config.sync.prune:
                    # With prune on, a typo here would remove the credential from every
                    # namespace it reached: fail the entry, which holds prune.
                    out.errors.append(EntryError(cred.name, why + "; prune is held"))
                else:
                    out.warnings.append(why)
            for problem in problems:
                out.errors.append(EntryError(
                    cred.name, f"credentials[{index}].targets[{t_index}] ({cred.name}): {problem}"))
            for ns in names:
                _render_target(config, cred, target, ns, values, source=source,
                               shared_names=shared_names, out=out, data=data,
                               s3_annotations=s3_annotations)
    return out


def _secret(out: Rendered, config: settings.Config, ref: Ref, shared: bool) -> DesiredSecret:
    if ref not in out.secrets:
        out.secrets[ref] = DesiredSecret(namespace=ref[0], name=ref[1], shared=shared,
                                         instance=config.sync.instance)
    return out.secrets[ref]


def _render_target(config: settings.Config, cred: settings.Credential, target: settings.Target,
                   ns: str, values: dict[str, SecretValue] | None, *, source: str,
                   shared_names: set[str], out: Rendered,
                   data: dict[str, SecretValue] | None,
                   s3_annotations: dict[str, str]) -> None:
    if target.secret:
        desired = _secret(out, config, (ns, target.secret), target.secret in shared_names)
        desired.credentials.add(cred.name)
        desired.adopt = desired.adopt or target.adopt
        desired.rollout = desired.rollout or target.rollout
        desired.type = secretdata.secret_type(cred)
        if data is None:
            desired.held_keys |= secretdata.data_keys(config, cred)
        else:
            for data_key, value in data.items():
                desired.keys[data_key] = KeyValue(value, cred.name, source)
            if not desired.shared:
                desired.annotations.update(s3_annotations)
        if target.service_account:
            ref = (ns, target.service_account)
            sa = out.service_accounts.setdefault(
                ref, DesiredServiceAccount(namespace=ns, name=target.service_account,
                                           instance=config.sync.instance))
            sa.credentials.add(cred.name)
            pull = cred.type == "oci"  # a pull secret: imagePullSecrets, not secrets
            if values is None and pull:
                sa.held_pull_secrets |= {target.secret}
            elif values is None:
                sa.held_secrets |= {target.secret}
            elif pull:
                sa.pull_secrets |= {target.secret}
            else:
                sa.secrets.add(target.secret)
    if target.storage_config:
        sc = target.storage_config
        desired = _secret(out, config, (ns, config.storage_secret_name(target)), True)
        desired.credentials.add(cred.name)
        desired.adopt = desired.adopt or target.adopt
        desired.rollout = desired.rollout or target.rollout
        keys_out = [sc.key] + (["default", "default_s3"] if sc.default else [])
        if values is None:
            desired.held_keys |= frozenset(keys_out)
        else:
            spec = kserve.storage_spec_json(cred.s3, sc.bucket, values["accessKeyId"],
                                            values["secretAccessKey"],
                                            ca_mount=config.kserve.ca_bundle_mount_path)
            for key in keys_out:
                desired.keys[key] = KeyValue(spec, cred.name, source)
