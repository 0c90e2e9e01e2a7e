"""The calls written lately, for the dashboard: the status bucket's latest records, watched while someone looks.

The first listing subscribes (an ordered consumer of the bucket's stream, from its last
``keep`` writes) and keeps the newest record of each call, raw, up to ``keep`` calls; the
subscription ends once nobody asked for ``idle`` seconds, so a gateway nobody watches pays
nothing for it. Records are decoded only when listed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import nats.errors
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from pydantic import ValidationError

from calls.status import CallRecord
from calls.streams import follow_writes

__all__ = ["RecentCalls"]

logger = logging.getLogger(__name__)

_LOADING = 3.0
"""Seconds the first listing waits for the records written before it."""


class RecentCalls:
    """The newest records of the status bucket ``bucket``.

    Args:
        jetstream: the JetStream the bucket is in.
        bucket: the call status bucket.
        keep: the most calls kept.
        idle: seconds without a listing after which the subscription ends.
    """

    def __init__(
        self, jetstream: Callable[[], Awaitable[JetStreamContext]], bucket: str, *, keep: int = 500, idle: float = 120.0
    ) -> None:
        self._jetstream = jetstream
        self._bucket = bucket
        self._keep = keep
        self._idle = idle
        self._records: OrderedDict[str, bytes] = OrderedDict()
        self._sub: Subscription | None = None
        self._asked = 0.0
        self._lock = asyncio.Lock()
        self._closer: asyncio.Task[None] | None = None

    async def listing(self, query: str = "", limit: int = 100) -> list[CallRecord]:
        """The newest records first, up to ``limit``: those whose id, function or state contains ``query``.

        Raises:
            nats.errors.Error: the bucket could not be watched.
        """
        self._asked = time.monotonic()
        await self._watch()
        needle = query.strip().lower()
        found: list[CallRecord] = []
        for raw in reversed(self._records.values()):
            try:
                record = CallRecord.model_validate_json(raw)
            except ValidationError:
                continue
            if not needle or needle in f"{record.call_id} {record.function} {record.state.value}".lower():
                found.append(record)
                if len(found) >= limit:
                    break
        return found

    async def close(self) -> None:
        """End the subscription."""
        if self._closer is not None:
            self._closer.cancel()
            self._closer = None
        await self._stop()

    async def _watch(self) -> None:
        async with self._lock:
            if self._sub is not None:
                return
            self._records.clear()
            self._sub, caught_up = await follow_writes(await self._jetstream(), self._bucket, self._keep, self._seen)
            self._closer = asyncio.get_running_loop().create_task(self._close_when_idle())
            with contextlib.suppress(TimeoutError):  # the first listing shows what was there
                await asyncio.wait_for(caught_up.wait(), _LOADING)

    def _seen(self, key: str, value: bytes | None) -> None:
        self._records.pop(key, None)
        if value is None:  # deleted or purged
            return
        self._records[key] = value
        if len(self._records) > self._keep:
            self._records.popitem(last=False)

    async def _close_when_idle(self) -> None:
        while True:
            await asyncio.sleep(max(1.0, self._idle - (time.monotonic() - self._asked)))
            if time.monotonic() - self._asked >= self._idle:
                await self._stop()
                return

    async def _stop(self) -> None:
        async with self._lock:
            sub, self._sub = self._sub, None
            if sub is not None:
                with contextlib.suppress(nats.errors.Error):
                    await sub.unsubscribe()
            self._records.clear()
