"""Checks across credentials: no two entries may fight over one object or key,
and no ServiceAccount may end up with credentials KServe cannot use together.

Run by :class:`syncer.settings.Config`'s validator once every entry is valid on
its own, and by the loader over the valid entries of an invalid file (so one
``validate`` reports everything). Linear in the number of targets. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # settings imports this module to validate a Config
    from syncer.settings import Credential, KServeSettings, Target

Indexed = Iterable[tuple[int, "Credential"]]
ANY = "*"  # a namespaceSelector: may match any namespace


def _spaces(target: Target) -> list[str]:
    return list(target.namespaces) if target.namespaces else [ANY]


class _Claims:
    """Who claimed a (kind, name) in which namespace; reports the second claimant."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str], dict[str, tuple[str, str]]] = {}

    def claim(self, key: tuple[str, str], spaces: list[str], who: tuple[str, str]
              ) -> tuple[str, str] | None:
        """Record ``who`` (credential, where); return an earlier claimant it overlaps."""
        seen = self._by_key.setdefault(key, {})
        if spaces == [ANY]:
            others = [v for v in seen.values() if v != who]
        else:
            others = [v for ns in spaces for v in (seen.get(ns), seen.get(ANY))
                      if v is not None and v != who]
        for ns in spaces:
            seen.setdefault(ns, who)
        return others[0] if others else None


def collisions(entries: Indexed, kserve: KServeSettings) -> list[str]:
    """Every collision between entries, each naming the entry and field.

    - A per-backend Secret serves exactly one provider (KServe picks the first
      matching key, so a second provider's key would be ignored).
    - A storage-spec key has one writer, and a storage-spec Secret holds no
      per-backend provider except an hf token (an S3 key there would shadow
      HF_TOKEN in KServe's provider order and merge two objects into one).
    - A ServiceAccount lists at most one credential of each type: two GCS or HDFS
      Secrets make KServe mount two volumes at one path (the pod is rejected), two
      S3 or Azure Secrets set the same variables and the last silently wins. https
      credentials are one per host (the env is ``<host>-headers``); pull secrets
      (oci) may be many, as the kubelet tries each.
    Namespace selectors may match any namespace, so they overlap everything.
    """
    entries = list(entries)
    errors: list[str] = []
    claims = _Claims()
    storage_names = {kserve.storage_spec_secret_name}
    for _, cred in entries:
        for target in cred.targets:
            if target.storage_config:
                storage_names.add(target.storage_config.secret_name
                                  or kserve.storage_spec_secret_name)
    for i, cred in entries:
        for j, target in enumerate(cred.targets):
            where = f"credentials[{i}].targets[{j}]"
            spaces = _spaces(target)
            if target.secret:
                if target.secret in storage_names and cred.type != "hf":
                    errors.append(f"{where}.secret: {target.secret!r} is a storage-spec Secret "
                                  f"(storageConfig writes it): only hf tokens may share it, as "
                                  f"a {cred.type} key there would shadow HF_TOKEN and mix two "
                                  "objects into one")
                clash = claims.claim(("secret", target.secret), spaces, (cred.name, where))
                if clash:
                    errors.append(f"{where}: writes Secret {target.secret!r} that {clash[1]} "
                                  f"({clash[0]}) also writes in the same namespace(s)")
            kind = _account_kind(cred)
            if target.secret and target.service_account and kind:
                clash = claims.claim((f"sa-type:{kind}", target.service_account), spaces,
                                     (cred.name, where))
                if clash:
                    errors.append(f"{where}.serviceAccount: {target.service_account!r} already "
                                  f"lists a {kind} credential from {clash[1]} ({clash[0]}) "
                                  "in the same namespace(s); KServe can use only one per "
                                  "ServiceAccount")
            if target.storage_config:
                sc = target.storage_config
                name = sc.secret_name or kserve.storage_spec_secret_name
                for key in [sc.key] + (["default", "default_s3"] if sc.default else []):
                    clash = claims.claim((f"storage:{name}", key), spaces,
                                         (cred.name, f"{where}.storageConfig"))
                    if clash:
                        errors.append(f"{where}.storageConfig: writes key {key!r} of Secret "
                                      f"{name!r} that {clash[1]} ({clash[0]}) also writes in "
                                      "the same namespace(s)")
    return errors


def _account_kind(cred: Credential) -> str | None:
    """What a ServiceAccount may list only once, or None (oci: any number)."""
    if cred.type == "oci":
        return None
    if cred.type == "https" and cred.https is not None:
        return f"https (host {cred.https.host})"
    return cred.type
