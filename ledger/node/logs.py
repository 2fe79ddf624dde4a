"""Structured logs for every node: JSON lines when not on a terminal, readable otherwise."""

from __future__ import annotations

import logging
import os
import sys

import structlog

_configured = False


def configure_logging(level: str | None = None) -> None:
    """Idempotent; level from GRIDLEDGER_LOG_LEVEL (default INFO)."""
    global _configured
    if _configured:
        return
    _configured = True
    name = (level or os.environ.get("GRIDLEDGER_LOG_LEVEL", "INFO")).upper()
    numeric = getattr(logging, name, logging.INFO)
    logging.basicConfig(level=numeric, format="%(message)s", stream=sys.stderr)
    renderer = structlog.dev.ConsoleRenderer() if sys.stderr.isatty() else structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
