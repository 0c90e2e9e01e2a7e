"""Waiting for a condition with a deadline, never a bare sleep: ``eventually`` when async, ``until`` when not."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(check: Callable[[], Awaitable[T | None]], within: float = 5.0, every: float = 0.01) -> T:
    """Poll ``check`` until it returns something other than None; a TimeoutError fails the test."""
    async with asyncio.timeout(within):
        while True:
            if (seen := await check()) is not None:
                return seen
            await asyncio.sleep(every)


def until(
    check: Callable[[], T | None], within: float = 10.0, every: float = 0.02, what: str = "condition not met"
) -> T:
    """Poll ``check`` until it returns something other than None; at the deadline, fail with ``what``."""
    deadline = time.monotonic() + within
    while (seen := check()) is None:
        assert time.monotonic() < deadline, f"{what} within {within:g}s"
        time.sleep(every)
    return seen
