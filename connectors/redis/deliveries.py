"""A :class:`~connectors.sdk.deliveries.DeliveryLog` in Redis, so a restarted connector still skips accepted calls.

The functions that accepted a stream entry are the fields of one hash per entry,
``faasq:deliveries:<group>:<stream>/<entry id>``, which expires ``redis_delivery_ttl`` after its
last write and is deleted when the entry is acknowledged. Pub/Sub messages are never
redelivered, so their deliveries are not recorded.
"""

from __future__ import annotations

import time
from collections.abc import Collection

import redis.asyncio as aioredis

__all__ = ["RedisDeliveryLog"]


class RedisDeliveryLog:
    """Delivery records of the entries of ``streams`` read by consumer group ``group``.

    Args:
        client: the connector's Redis client.
        group: the consumer group; groups consuming the same stream keep separate records.
        streams: the consumed streams; events of other sources are not recorded.
        ttl: seconds a record is kept after its last write.
    """

    def __init__(self, client: aioredis.Redis, group: str, streams: Collection[str], ttl: float) -> None:
        self._client = client
        self._prefix = f"faasq:deliveries:{group}:"
        self._streams = frozenset(streams)
        self._ttl = max(1, round(ttl))

    def _key(self, event_id: str) -> str | None:
        stream, sep, _ = event_id.rpartition("/")
        return self._prefix + event_id if sep and stream in self._streams else None

    async def accepted(self, event_id: str) -> frozenset[str]:
        """The functions recorded as having accepted ``event_id``."""
        key = self._key(event_id)
        if key is None:
            return frozenset()
        names = await self._client.hkeys(key)
        return frozenset(name.decode() if isinstance(name, bytes) else name for name in names)

    async def record(self, event_id: str, function: str) -> None:
        """Record ``function`` (with the time it accepted) and push the expiry back."""
        if (key := self._key(event_id)) is None:
            return
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.hset(key, function, str(time.time()))
            pipe.expire(key, self._ttl)
            await pipe.execute()

    async def forget(self, event_id: str) -> None:
        """Drop the records of ``event_id``."""
        if (key := self._key(event_id)) is not None:
            await self._client.delete(key)
