"""Logging shared by every component: the id of the call being served on every line.

Components set :data:`current_call_id` when they take up a call; only ``main.py`` entry
points call :func:`configure_logging`.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar

__all__ = ["CallIdFilter", "configure_logging", "current_call_id"]

current_call_id: ContextVar[str] = ContextVar("current_call_id", default="-")
"""The id of the call this task serves (``-``: none); set it as a call is taken up."""

_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(call_id)s] %(message)s"


class CallIdFilter(logging.Filter):
    """Adds ``record.call_id`` from the context, so one grep follows a call across components."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Attach the current call id; never drops a record."""
        record.call_id = current_call_id.get()
        return True


def configure_logging(level: int | str = logging.INFO, fmt: str = _FORMAT) -> None:
    """Log to stderr with the call id on every line; replaces handlers set before."""
    handler = logging.StreamHandler()
    handler.addFilter(CallIdFilter())
    handler.setFormatter(logging.Formatter(fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
