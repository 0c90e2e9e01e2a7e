"""The cron connector's clock: a seam, so the schedule logic runs against a fake clock in tests."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Protocol

__all__ = ["Clock", "SystemClock"]


class Clock(Protocol):
    """Tells the time and waits."""

    def now(self) -> datetime:
        """The current time, aware, in UTC."""

    async def sleep(self, seconds: float, stop: asyncio.Event) -> None:
        """Wait ``seconds``, or less if ``stop`` is set meanwhile."""


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """``datetime.now(UTC)``."""
        return datetime.now(UTC)

    async def sleep(self, seconds: float, stop: asyncio.Event) -> None:
        """Wait on ``stop`` for up to ``seconds``."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=max(seconds, 0.0))
