"""The gateway's JetStream records, over its one NATS link: call status, batches, dead letters, flow control.

Each is opened on first use (its bucket or stream created, or brought to its configuration)
and kept; a gateway whose link has no JetStream (a test's fake) still serves everything else,
and these routes answer 503.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from nats.js import JetStreamContext

from calls.batch_store import BatchStore
from calls.bodies import Bodies
from calls.flow_store import FlowStore
from calls.status_store import CallStore
from calls.streams import ensure_dead_letter_stream
from gateway.config import GatewaySettings
from gateway.jetstream import NatsLink

__all__ = ["Stores"]

T = TypeVar("T")


class _Once(Generic[T]):
    """The value of ``open()``, awaited once; a failed open is tried again by the next caller."""

    def __init__(self, open_: Callable[[], Awaitable[T]]) -> None:
        self._open = open_
        self._value: T | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> T:
        if self._value is None:
            async with self._lock:
                if self._value is None:
                    self._value = await self._open()
        return self._value


class Stores:
    """The status, batch, flow-control and body buckets and the dead-letter stream of one gateway.

    Args:
        link: the gateway's NATS connection, whose JetStream context they share.
        settings: the buckets' and the stream's names and limits.
    """

    def __init__(self, link: NatsLink, settings: GatewaySettings) -> None:
        self._link = link
        self.settings = settings
        replicas = settings.nats_stream_replicas
        self._calls = _Once(
            lambda: CallStore.open(link.jetstream(), settings.status_bucket, settings.status_ttl, replicas)
        )
        self._batches = _Once(
            lambda: BatchStore.open(link.jetstream(), settings.batch_bucket, settings.batch_ttl, replicas)
        )
        self._dead_letters = _Once(self._open_dead_letters)
        self._flow = _Once(lambda: FlowStore.open(link.jetstream(), settings.flow_bucket, replicas))

    def jetstream(self) -> JetStreamContext:
        """The link's JetStream context.

        Raises:
            QueueUnavailable: the link has none.
        """
        return self._link.jetstream()

    async def calls(self) -> CallStore:
        """The call status records."""
        return await self._calls.get()

    async def batches(self) -> BatchStore:
        """The batch records."""
        return await self._batches.get()

    async def flow(self) -> FlowStore:
        """The flow-control bucket (limits' state, pauses)."""
        return await self._flow.get()

    async def bodies(self) -> Bodies:
        """The bodies too large for a message (:mod:`calls.bodies`): the link's, which stores them."""
        return await self._link.bodies()

    async def dead_letters(self) -> JetStreamContext:
        """The JetStream context, once the dead-letter stream exists with its configuration."""
        return await self._dead_letters.get()

    async def _open_dead_letters(self) -> JetStreamContext:
        js, settings = self._link.jetstream(), self.settings
        await ensure_dead_letter_stream(
            js,
            settings.dead_letter_stream,
            max_age=settings.dead_letter_max_age.total_seconds(),
            max_bytes=settings.dead_letter_max_bytes,
            replicas=settings.nats_stream_replicas,
        )
        return js
