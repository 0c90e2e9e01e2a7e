"""Pub/Sub: every message on a subscribed channel (or a channel matching a pattern) becomes an event.

Fire and forget, as Pub/Sub itself: a message is invoked once, whatever its functions answer,
and messages published while the connector is not subscribed are not seen. Up to
``max_inflight`` messages are invoked at once; past that the connector stops reading until one
finishes, and Redis buffers the rest.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import redis.asyncio as aioredis

from connectors.redis.config import RedisSettings
from connectors.redis.connection import Reconnector
from connectors.redis.entries import channel_event
from connectors.sdk.controller import Controller
from connectors.sdk.events import Event

__all__ = ["ChannelListener"]

logger = logging.getLogger(__name__)


def _text(value: bytes | str | None) -> str | None:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


class ChannelListener:
    """Subscribes to ``redis_channels`` and ``redis_patterns`` and invokes each message's topic."""

    def __init__(self, client: aioredis.Redis, controller: Controller, settings: RedisSettings) -> None:
        self._client = client
        self._controller = controller
        self._settings = settings
        self._slots = asyncio.Semaphore(settings.max_inflight)
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self, link: Reconnector, stop: asyncio.Event) -> None:
        """Listen until ``stop`` is set; a lost connection raises (``link`` subscribes again)."""
        async with self._client.pubsub(ignore_subscribe_messages=True) as pubsub:
            if self._settings.redis_channels:
                await pubsub.subscribe(*self._settings.redis_channels)
            if self._settings.redis_patterns:
                await pubsub.psubscribe(*self._settings.redis_patterns)
            link.connected()
            timeout = self._settings.redis_block.total_seconds()
            while not stop.is_set():
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=timeout)
                if message is not None:
                    await self._start(message)
        await self.drain()

    async def _start(self, message: dict[str, Any]) -> None:
        channel = _text(message["channel"]) or ""
        event = channel_event(channel, _text(message.get("pattern")), message["data"], self._settings)
        await self._slots.acquire()
        task = asyncio.create_task(self._invoke(event, channel))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _invoke(self, event: Event, channel: str) -> None:
        try:
            result = await self._controller.invoke(event)
            if not result.functions:
                logger.warning("no function subscribes to topic %r (channel %s)", event.topic, channel)
        finally:
            self._slots.release()

    async def drain(self) -> None:
        """Wait for the messages being invoked."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
