"""The batch records of one JetStream key-value bucket, each write revision-checked.

Many workers finish items of one batch at once; each write reads the record, applies the
rules of :mod:`calls.batch` and writes it back at the revision read, trying again (with a
little jitter) when another writer got in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Mapping
from datetime import timedelta

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from calls.batch import BatchRecord, apply_marks
from calls.status import CallState
from calls.streams import follow_writes, open_bucket

__all__ = ["DEFAULT_BATCH_BUCKET", "BatchConflict", "BatchStore"]

DEFAULT_BATCH_BUCKET = "faas-batches"
_CONFLICT_RETRIES = 200
_CATCHING_UP = 5.0
"""Seconds :meth:`BatchStore.recent` waits for the bucket's latest writes."""


class BatchConflict(RuntimeError):
    """A batch record kept changing under a write: more concurrent writers than expected."""


class BatchStore:
    """The batch records of one key-value bucket.

    Args:
        kv: the bucket (see :meth:`open`).
        js: the JetStream it is in.
        bucket: its name.
    """

    def __init__(self, kv: KeyValue, js: JetStreamContext, bucket: str) -> None:
        self._kv = kv
        self._js = js
        self._bucket = bucket

    @classmethod
    async def open(
        cls,
        js: JetStreamContext,
        bucket: str = DEFAULT_BATCH_BUCKET,
        ttl: timedelta = timedelta(days=1),
        replicas: int = 1,
    ) -> BatchStore:
        """Create the bucket or bind to it (brought to ``ttl``): see :func:`~calls.streams.open_bucket`."""
        return cls(await open_bucket(js, bucket, ttl, replicas), js, bucket)

    async def get(self, batch_id: str) -> tuple[BatchRecord, int] | None:
        """The record of ``batch_id`` and its revision, or None if there is none."""
        try:
            entry = await self._kv.get(batch_id)
        except KeyNotFoundError:
            return None
        if entry.value is None:  # pragma: no cover - a put always has a value
            return None
        return BatchRecord.model_validate_json(entry.value), entry.revision or 0

    async def recent(self, limit: int = 50) -> list[BatchRecord]:
        """The newest ``limit`` batches, newest first: the last record of each of the bucket's latest writes."""
        found: dict[str, bytes | None] = {}
        sub, caught_up = await follow_writes(self._js, self._bucket, 20 * limit, found.__setitem__)
        try:
            with contextlib.suppress(TimeoutError):  # the last write expired meanwhile: what came is all there is
                await asyncio.wait_for(caught_up.wait(), _CATCHING_UP)
        finally:
            await sub.unsubscribe()
        records = [BatchRecord.model_validate_json(value) for value in found.values() if value]
        return sorted(records, key=lambda record: record.created_at, reverse=True)[:limit]

    async def create(self, record: BatchRecord) -> bool:
        """Write ``record`` if its batch has none; False if one exists."""
        try:
            await self._kv.create(record.batch_id, _encode(record))
        except KeyWrongLastSequenceError:
            return False
        return True

    async def apply(self, batch_id: str, marks: Mapping[int, CallState]) -> BatchRecord | None:
        """Record ``marks`` (item index to state) with :func:`apply_marks`, revision-checked.

        Returns:
            The record now stored, or None if the batch has no record (unknown, or expired).

        Raises:
            BatchConflict: the record changed under every one of many tries.
        """
        return await self.change(batch_id, lambda record: apply_marks(record, marks))

    async def change(self, batch_id: str, change: Callable[[BatchRecord], BatchRecord | None]) -> BatchRecord | None:
        """Apply ``change`` (record to new record, or None for no change) atomically; the record now stored."""
        for attempt in range(_CONFLICT_RETRIES):
            stored = await self.get(batch_id)
            if stored is None:
                return None
            record, revision = stored
            new = change(record)
            if new is None:
                return record
            try:
                await self._kv.update(batch_id, _encode(new), last=revision)
            except KeyWrongLastSequenceError:
                # Many workers finish items of one batch at once: spread their next tries a little.
                await asyncio.sleep(random.uniform(0, 0.002 * min(attempt + 1, 10)))  # noqa: S311 - jitter
                continue
            return new
        raise BatchConflict(f"batch {batch_id}: its record kept changing under {_CONFLICT_RETRIES} tries")


def _encode(record: BatchRecord) -> bytes:
    return record.model_dump_json(exclude_none=True).encode()
