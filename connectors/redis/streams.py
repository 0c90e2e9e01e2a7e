"""Consuming streams with a consumer group: read, invoke, decide, settle; claim what is stuck.

New entries come from ``XREADGROUP … >``. An entry is acknowledged (XACK) only when every
subscribed function accepted it; otherwise it stays pending, and every ``redis_claim_idle``/2
``XAUTOCLAIM`` takes the entries idle longer than ``redis_claim_idle`` (this consumer's failures
and those of dead consumers alike) and delivers them again, calling only the functions that did
not accept them yet. While a batch is being invoked its entries are re-claimed (``XCLAIM
JUSTID``) so that no other consumer takes them. After ``redis_max_deliveries`` deliveries (the
group's counter, from ``XPENDING``) an entry is copied to the dead-letter stream and acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from connectors.redis.config import RedisSettings
from connectors.redis.connection import Reconnector
from connectors.redis.deliveries import RedisDeliveryLog
from connectors.redis.entries import Entry, dead_letter_fields, stream_event
from connectors.redis.verdict import Ack, DeadLetter, Retry, decide
from connectors.sdk.controller import Controller

__all__ = ["StreamConsumer"]

logger = logging.getLogger(__name__)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


class StreamConsumer:
    """This process's consumer in the group ``redis_group`` of each of ``redis_streams``."""

    def __init__(
        self, client: aioredis.Redis, controller: Controller, settings: RedisSettings, deliveries: RedisDeliveryLog
    ) -> None:
        self._client = client
        self._controller = controller
        self._settings = settings
        self._deliveries = deliveries
        self._group = settings.redis_group
        self._consumer = settings.redis_consumer
        self._claim_idle = settings.redis_claim_idle.total_seconds()

    async def run(self, link: Reconnector, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; a lost connection raises (``link`` starts it over)."""
        await self._create_groups()
        link.connected()
        next_sweep = 0.0
        while not stop.is_set():
            if time.monotonic() >= next_sweep:
                await self._sweep()
                next_sweep = time.monotonic() + self._claim_idle / 2
            block = min(self._settings.redis_block.total_seconds(), max(0.001, next_sweep - time.monotonic()))
            await self._handle(await self._read(block))

    async def _create_groups(self) -> None:
        for stream in self._settings.redis_streams:
            try:
                await self._client.xgroup_create(
                    stream, self._group, id=self._settings.redis_group_start, mkstream=True
                )
            except ResponseError as exc:
                if not str(exc).startswith("BUSYGROUP"):  # BUSYGROUP: it exists already, as it should
                    raise

    async def _read(self, block: float) -> list[Entry]:
        streams: dict[Any, Any] = dict.fromkeys(self._settings.redis_streams, ">")
        reply: list[Any] | None = await self._client.xreadgroup(  # type: ignore[assignment]
            self._group, self._consumer, streams, count=self._settings.redis_count, block=_ms(block)
        )
        return [
            Entry(_text(stream), _text(entry_id), fields)
            for stream, entries in reply or []
            for entry_id, fields in entries
        ]

    async def _sweep(self) -> None:
        for stream in self._settings.redis_streams:
            cursor: bytes | str = "0-0"
            while True:
                cursor, claimed, _ = await self._client.xautoclaim(
                    stream, self._group, self._consumer, _ms(self._claim_idle), cursor, count=self._settings.redis_count
                )
                await self._handle(await self._counted(stream, claimed))
                if _text(cursor) == "0-0":
                    break

    async def _counted(self, stream: str, claimed: Sequence[tuple[bytes, dict[bytes, bytes] | None]]) -> list[Entry]:
        """The claimed entries with their delivery counters (XAUTOCLAIM does not return them)."""
        ids = [entry_id for entry_id, fields in claimed if fields is not None]
        if not ids:
            return []
        async with self._client.pipeline(transaction=False) as pipe:
            for entry_id in ids:
                pipe.xpending_range(stream, self._group, min=entry_id, max=entry_id, count=1)
            replies = await pipe.execute()
        counts = {_text(row["message_id"]): int(row["times_delivered"]) for reply in replies for row in reply}
        return [
            Entry(stream, _text(entry_id), fields, counts.get(_text(entry_id), 1))
            for entry_id, fields in claimed
            if fields is not None
        ]

    async def _handle(self, entries: list[Entry]) -> None:
        if not entries:
            return
        async with self._holding(entries):
            outcomes = await asyncio.gather(*(self._process(entry) for entry in entries), return_exceptions=True)
        for outcome in outcomes:  # every entry had its chance; the first failure (a lost connection) goes up
            if isinstance(outcome, BaseException):
                raise outcome

    async def _process(self, entry: Entry) -> None:
        event = stream_event(entry, self._settings)
        result = await self._controller.invoke(event)
        verdict = decide(result, entry.deliveries, self._settings.redis_max_deliveries)
        match verdict:
            case Ack():
                await self._client.xack(entry.stream, self._group, entry.id)
                await self._deliveries.forget(event.id)
            case DeadLetter(reason):
                await self._dead_letter(entry, reason)
                await self._deliveries.forget(event.id)
            case Retry(reason):
                logger.warning(
                    "%s %s (delivery %d of %d): %s; retried in %gs",
                    entry.stream,
                    entry.id,
                    entry.deliveries,
                    self._settings.redis_max_deliveries,
                    reason,
                    self._claim_idle,
                )

    async def _dead_letter(self, entry: Entry, reason: str) -> None:
        target = self._settings.dead_letter_stream(entry.stream)
        async with self._client.pipeline(transaction=True) as pipe:  # both or neither
            pipe.xadd(target, dead_letter_fields(entry, reason))  # type: ignore[arg-type]
            pipe.xack(entry.stream, self._group, entry.id)
            await pipe.execute()
        logger.error("%s %s went to %s: %s", entry.stream, entry.id, target, reason)

    @contextlib.asynccontextmanager
    async def _holding(self, entries: Iterable[Entry]) -> AsyncIterator[None]:
        """Keep ``entries`` fresh in this consumer's pending list while they are invoked, so none is claimed."""
        by_stream: dict[str, list[str]] = {}
        for entry in entries:
            by_stream.setdefault(entry.stream, []).append(entry.id)
        done = asyncio.Event()
        task = asyncio.create_task(self._keep_claimed(by_stream, done))
        try:
            yield
        finally:
            # The event, not only the cancel: a cancel that lands inside a Redis command can be
            # lost (it surfaces as the command's timeout), and the loop would hold them forever.
            done.set()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _keep_claimed(self, by_stream: dict[str, list[str]], done: asyncio.Event) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), self._claim_idle / 3)
            if done.is_set():
                return
            for stream, ids in by_stream.items():
                try:  # JUSTID: resets the idle time without counting a delivery
                    await self._client.xclaim(stream, self._group, self._consumer, 0, ids, justid=True)  # type: ignore[arg-type]
                except RedisError as exc:
                    logger.debug("could not refresh the pending entries of %s: %s", stream, exc)
