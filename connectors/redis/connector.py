"""The Redis connector: Pub/Sub messages and stream entries become calls of their topic's functions."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import ClassVar
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from connectors.redis.config import RedisSettings
from connectors.redis.connection import Reconnector, pause
from connectors.redis.deliveries import RedisDeliveryLog
from connectors.redis.pubsub import ChannelListener
from connectors.redis.streams import StreamConsumer
from connectors.sdk.connector import Connector
from connectors.sdk.controller import Controller
from connectors.sdk.deliveries import DeliveryLog

__all__ = ["RedisConnector", "open_client", "redacted"]

logger = logging.getLogger(__name__)


def redacted(url: str) -> str:
    """``url`` without its password, for the logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def open_client(settings: RedisSettings) -> aioredis.Redis:
    """A client of ``redis_url`` (connecting on first use) that leaves retrying to the connector's loops."""
    read_timeout = settings.redis_block + timedelta(seconds=10)  # longer than any XREADGROUP BLOCK
    return aioredis.Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=5,
        socket_timeout=read_timeout.total_seconds(),
        retry=Retry(NoBackoff(), 0),
    )


class RedisConnector(Connector[RedisSettings]):
    """Subscribes to ``redis_channels`` and ``redis_patterns``, consumes ``redis_streams``: see docs/connectors.md."""

    name: ClassVar[str] = "redis"
    settings_class: ClassVar[type[RedisSettings]] = RedisSettings

    def __init__(self, settings: RedisSettings) -> None:
        super().__init__(settings)
        self.client = open_client(settings)
        ttl = settings.redis_delivery_ttl.total_seconds()
        self._deliveries = RedisDeliveryLog(self.client, settings.redis_group, settings.redis_streams, ttl)

    def delivery_log(self) -> DeliveryLog:
        """The deliveries of stream entries, kept in Redis beside the streams."""
        return self._deliveries

    async def run(self, controller: Controller, stop: asyncio.Event) -> None:
        """Listen and consume until ``stop`` is set, reconnecting whenever Redis goes away."""
        settings, target = self.settings, redacted(self.settings.redis_url)
        maximum = settings.redis_reconnect_max.total_seconds()
        logger.info(
            "redis %s: channels %s, patterns %s, streams %s (group %s, consumer %s)",
            target,
            list(settings.redis_channels),
            list(settings.redis_patterns),
            list(settings.redis_streams),
            settings.redis_group,
            settings.redis_consumer,
        )
        async with asyncio.TaskGroup() as tasks:
            if settings.redis_channels or settings.redis_patterns:
                listener = ChannelListener(self.client, controller, settings)
                link = Reconnector("pub/sub", target, stop, maximum)
                tasks.create_task(link.run(lambda: listener.run(link, stop)))
            if settings.redis_streams:
                tasks.create_task(self._consume(controller, stop, Reconnector("streams", target, stop, maximum)))

    async def _consume(self, controller: Controller, stop: asyncio.Event, link: Reconnector) -> None:
        # Without a topic map every entry would look unsubscribed: wait for the gateway's first answer.
        if not controller.catalog.built.is_set():
            logger.info("streams: waiting for the gateway's function list before reading")
        while not controller.catalog.built.is_set() and not stop.is_set():
            await pause(stop, controller.settings.rebuild_interval.total_seconds())
        consumer = StreamConsumer(self.client, controller, self.settings, self._deliveries)
        await link.run(lambda: consumer.run(link, stop))

    async def shutdown(self) -> None:
        """Close the connections to Redis."""
        await self.client.aclose()
