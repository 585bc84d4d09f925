"""kserve-vault-sync: KServe storage credentials from Vault, kept in step.

Layers (enforced by import-linter, see pyproject.toml):
cli > reconcile > vault | kube > render | diff > settings; model and
secretvalue are plain data used everywhere. settings, render and diff do no I/O.
"""

__version__ = "0.1.0"
