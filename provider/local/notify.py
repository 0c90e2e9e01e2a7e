"""A broadcast wake-up for any number of waiters, without a queue per waiter."""

from __future__ import annotations

import asyncio

__all__ = ["Broadcast"]


class Broadcast:
    """Wakes every current waiter on :meth:`notify`; later waiters wait for the next one."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        """Wake everyone waiting now."""
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self) -> None:
        """Wait for the next :meth:`notify`."""
        await self._event.wait()
