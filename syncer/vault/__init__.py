"""The Vault adapter: one login function per auth method, and the KV reader."""

from syncer.vault.reader import VaultReader

__all__ = ["VaultReader"]
