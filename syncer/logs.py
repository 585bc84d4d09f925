"""structlog set-up: JSON lines (console on a terminal) with a redaction layer.

``RedactSecrets`` runs last before rendering: any SecretValue becomes its
``<redacted sha256:…>`` form and any known secret text (plain or base64) in
any string field - including formatted exceptions - is replaced. Logs carry
names, paths, versions and counts, never a value.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from syncer.secretvalue import SecretValue, scrub


class RedactSecrets:
    """A structlog processor that scrubs secret values from every field."""

    def __call__(self, logger: Any, name: str, event_dict: MutableMapping[str, Any]
                 ) -> dict[str, Any]:
        return {k: self._clean(v) for k, v in event_dict.items()}

    def _clean(self, value: Any) -> Any:
        if isinstance(value, SecretValue):
            return repr(value)
        if isinstance(value, str):
            return scrub(value)
        if isinstance(value, dict):
            return {k: self._clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._clean(v) for v in value]
        return value


def configure(*, level: str = "info", json: bool | None = None) -> None:
    """Configure structlog once for the process."""
    use_json = json if json is not None else not sys.stderr.isatty()
    renderer: Any = (structlog.processors.JSONRenderer() if use_json
                     else structlog.dev.ConsoleRenderer(colors=False))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            RedactSecrets(),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]),
        # Resolve sys.stderr when a logger is made, not once: tests swap it.
        logger_factory=lambda *_: structlog.PrintLogger(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
