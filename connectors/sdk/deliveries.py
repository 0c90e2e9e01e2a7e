"""Per-function delivery records: which functions accepted which event, so a retry skips them.

A connector whose source redelivers (a Redis stream, a webhook sender retrying after a 502)
passes the same event id again; the SDK then calls only the functions not recorded yet.
:class:`MemoryDeliveryLog` keeps the records in this process, bounded in count and age; a
connector that wants them to outlive the process implements :class:`DeliveryLog` on its
own store (a Redis hash beside the stream, for instance).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

__all__ = ["DeliveryLog", "MemoryDeliveryLog"]


class DeliveryLog(Protocol):
    """Where the SDK records that a function accepted an event."""

    async def accepted(self, event_id: str) -> frozenset[str]:
        """The functions recorded as having accepted ``event_id``."""

    async def record(self, event_id: str, function: str) -> None:
        """Record that ``function`` accepted ``event_id``."""

    async def forget(self, event_id: str) -> None:
        """Drop the records of ``event_id`` (the source acknowledged it for good)."""


class MemoryDeliveryLog:
    """A :class:`DeliveryLog` in memory: the ``max_events`` most recent events, each for ``ttl`` seconds."""

    def __init__(
        self, max_events: int = 10_000, ttl: float = 3600.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._max = max_events
        self._ttl = ttl
        self._clock = clock
        self._records: OrderedDict[str, tuple[float, frozenset[str]]] = OrderedDict()

    async def accepted(self, event_id: str) -> frozenset[str]:
        """The functions that accepted ``event_id`` within the last ``ttl`` seconds."""
        entry = self._records.get(event_id)
        if entry is None or entry[0] < self._clock():
            return frozenset()
        return entry[1]

    async def record(self, event_id: str, function: str) -> None:
        """Add ``function``; the oldest events go once there are more than ``max_events``."""
        functions = await self.accepted(event_id)
        self._records[event_id] = (self._clock() + self._ttl, functions | {function})
        self._records.move_to_end(event_id)
        while len(self._records) > self._max:
            self._records.popitem(last=False)

    async def forget(self, event_id: str) -> None:
        """Drop ``event_id``'s records."""
        self._records.pop(event_id, None)
