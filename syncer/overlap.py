"""Checks across credentials: two entries must never fight over one object or key.

Run by :class:`syncer.settings.Config`'s validator once every entry is valid
on its own. Pure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # settings imports this module to validate a Config
    from syncer.settings import Config


def collisions(config: Config) -> list[str]:
    """Two credentials that would write the same Secret must not collide.

    A per-backend Secret serves exactly one provider (KServe picks the first
    matching key, so a second provider's key would be ignored); a storage-spec
    key has one writer. Namespace selectors may match any namespace, so they
    overlap everything of the same Secret name.
    """
    errors: list[str] = []
    writers: dict[tuple[str, str], list[tuple[str, set[str] | None, str]]] = {}
    for i, cred in enumerate(config.credentials):
        for j, target in enumerate(cred.targets):
            where = f"credentials[{i}].targets[{j}]"
            spaces: set[str] | None = set(target.namespaces) if target.namespaces else None
            if target.secret:
                if target.secret == config.kserve.storage_spec_secret_name and cred.type != "hf":
                    errors.append(f"{where}.secret: only hf tokens may share the storage-spec "
                                  f"Secret {target.secret!r}, as a {cred.type} key there would "
                                  "shadow HF_TOKEN in KServe's provider order")
                writers.setdefault(("secret", target.secret), []).append((cred.name, spaces, where))
            if target.storage_config:
                sc = target.storage_config
                name = config.storage_secret_name(target)
                keys = [sc.key] + (["default", "default_s3"] if sc.default else [])
                for key in keys:
                    writers.setdefault((f"storage:{name}", key), []).append(
                        (cred.name, spaces, f"{where}.storageConfig"))
    for (kind, name), entries in writers.items():
        for a in range(len(entries)):
            for b in range(a + 1, len(entries)):
                (cred_a, ns_a, where_a), (cred_b, ns_b, where_b) = entries[a], entries[b]
                if cred_a == cred_b and where_a == where_b:
                    continue
                if ns_a is None or ns_b is None or ns_a & ns_b:
                    what = (f"Secret {name!r}" if kind == "secret"
                            else f"key {name!r} of Secret {kind.split(':', 1)[1]!r}")
                    errors.append(f"{where_b}: writes {what} that {where_a} "
                                  f"({cred_a}) also writes in the same namespace(s)")
    return errors
