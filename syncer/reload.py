"""The mounted config file, re-read before each cycle of the daemon.

Parsed again only when its content changes (a content hash, so Kubernetes'
ConfigMap symlink swap is seen). A file that cannot be read or parsed keeps
the config already running, is logged once and counted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

import structlog

from syncer import loader, settings
from syncer.errors import ConfigError
from syncer.metrics import Metrics

log = structlog.get_logger(__name__)


class ConfigSource:
    """The mounted config file; re-parsed only when its content changes."""

    def __init__(self, path: str, environ: Mapping[str, str], metrics: Metrics) -> None:
        self.path = path
        self._environ = environ
        self._metrics = metrics
        self._digest = ""
        self.config: settings.Config | None = None
        self.last_error: str | None = None

    def refresh(self) -> bool:
        """Load the file if it changed; return True when a new config took effect."""
        try:
            data = Path(self.path).read_bytes()
        except OSError as exc:
            return self._reject(f"cannot read {self.path}: {exc.strerror}")
        digest = hashlib.sha256(data).hexdigest()
        if digest == self._digest:
            return False
        self._digest = digest  # report a bad file once, not every cycle
        try:
            # The bytes just hashed, not a second read: a swap in between cannot
            # pair one file's hash with another's content.
            config = loader.parse(data, source=self.path, environ=self._environ)
        except ConfigError as exc:
            return self._reject("; ".join(exc.errors))
        except Exception as exc:  # noqa: BLE001 - a reload must never take the daemon down
            return self._reject(f"cannot load {self.path} ({type(exc).__name__})")
        self.config, self.last_error = config, None
        log.info("config_loaded", path=self.path, credentials=len(config.credentials))
        return True

    def _reject(self, why: str) -> bool:
        self.last_error = why
        self._metrics.config_reload_failures.inc()
        log.error("config_rejected", path=self.path, error=why,
                  keeping="previous config" if self.config else "nothing loaded yet")
        return False
