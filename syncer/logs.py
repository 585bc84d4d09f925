"""Logging set-up: JSON lines (console on a terminal) with a redaction layer.

``RedactSecrets`` runs last before rendering: any SecretValue becomes its
``<redacted sha256:…>`` form and any known secret text (plain or base64) in
any string field - including formatted exceptions - is replaced. Logs carry
names, paths, versions and counts, never a value.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import MutableMapping
from typing import Any

import structlog

from syncer.scrub import scrub
from syncer.secretvalue import SecretValue


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


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time (tests swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def _log_uncaught(exc_type: type[BaseException], exc: BaseException, tb: Any) -> None:
    structlog.get_logger("kserve_vault_sync").critical(
        "uncaught_exception", exc_info=(exc_type, exc, tb))


def configure(*, level: str = "info", json: bool | None = None) -> None:
    """Configure logging once for the process: structlog's own events, and every
    stdlib logger (APScheduler, urllib3, kubernetes, ...) and uncaught exception,
    all through the same processors, so nothing is printed past the redaction."""
    use_json = json if json is not None else not sys.stderr.isatty()
    renderer: Any = (structlog.processors.JSONRenderer() if use_json
                     else structlog.dev.ConsoleRenderer(colors=False))
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    numeric = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, RedactSecrets(), renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        # Resolve sys.stderr when a logger is made, not once: tests swap it.
        logger_factory=lambda *_: structlog.PrintLogger(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    handler = _StderrHandler()
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, RedactSecrets(), renderer]))
    root = logging.getLogger()
    root.handlers = [handler]
    # Libraries speak at WARNING and above unless debugging: their INFO is noise.
    root.setLevel(numeric if numeric <= logging.DEBUG else max(numeric, logging.WARNING))
    sys.excepthook = _log_uncaught
    threading.excepthook = lambda args: _log_uncaught(
        args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback)
