"""The worker's NATS connection: :class:`~plumbing.nats_client.NatsClient`, reconnecting per the settings."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from nats.aio.client import Client

from plumbing.nats_client import NatsClient
from queue_worker.config import WorkerSettings

__all__ = ["connect"]

logger = logging.getLogger(__name__)


async def connect(settings: WorkerSettings, lost: asyncio.Event, closing: asyncio.Event) -> Client:
    """Connect to NATS with the reconnect settings; ``lost`` is set if the connection closes before ``closing``."""

    async def closed() -> None:
        if not closing.is_set():
            lost.set()  # out of reconnect attempts: nothing more can be pulled or settled

    async def disconnected() -> None:
        if not closing.is_set():
            logger.warning("NATS: disconnected; reconnecting")

    async def reconnected() -> None:
        logger.info("NATS: reconnected")

    async def error(exc: Exception) -> None:
        logger.warning("NATS: %s", exc or type(exc).__name__)

    options: dict[str, Any] = {
        "servers": settings.nats_urls,
        "name": f"faasq-worker-{settings.queue}",
        "max_reconnect_attempts": settings.faas_max_reconnect,
        "reconnect_time_wait": settings.faas_reconnect_delay.total_seconds(),
        "allow_reconnect": True,
        "connect_timeout": max(2, round(settings.faas_reconnect_delay.total_seconds())),
        "closed_cb": closed,
        "disconnected_cb": disconnected,
        "reconnected_cb": reconnected,
        "error_cb": error,
    }
    client = NatsClient()
    await client.connect(**options)
    return client
