"""The call status records of one JetStream key-value bucket, keyed by call id, with a TTL.

Every change of state is a revision-checked write (:meth:`CallStore.transition`), so a
cancel and a start of the same call cannot both win: the second writer sees a revision
that moved and decides again, with the rules of :mod:`calls.status`, on what the first one
wrote. The store only reads and writes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import NamedTuple

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from calls.status import CallRecord, now, queued_record
from calls.streams import open_bucket
from calls.wire import call_token

__all__ = ["DEFAULT_BUCKET", "DEFAULT_TTL", "CallStore", "StatusConflict", "Versioned", "call_key"]

DEFAULT_BUCKET = "faas-calls"
DEFAULT_TTL = timedelta(days=1)
_CONFLICT_RETRIES = 20


class Versioned(NamedTuple):
    """A record and the bucket revision it was read at (for a revision-checked update)."""

    record: CallRecord
    revision: int


class StatusConflict(RuntimeError):
    """A record kept changing under a transition: more concurrent writers than expected."""


def call_key(call_id: str) -> str:
    """The bucket key of a call id: its subject token (:func:`calls.wire.call_token`), valid as a key too."""
    return call_token(call_id)


class CallStore:
    """The call records of one key-value bucket.

    Args:
        kv: the bucket (see :meth:`open`).
    """

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    @classmethod
    async def open(
        cls, js: JetStreamContext, bucket: str = DEFAULT_BUCKET, ttl: timedelta = DEFAULT_TTL, replicas: int = 1
    ) -> CallStore:
        """Create the bucket or bind to it: see :func:`open_bucket`."""
        return cls(await open_bucket(js, bucket, ttl, replicas))

    async def get(self, call_id: str) -> Versioned | None:
        """The record of ``call_id`` and its revision, or None if there is none (never written, or expired)."""
        try:
            entry = await self._kv.get(call_key(call_id))
        except KeyNotFoundError:
            return None
        if entry.value is None:  # pragma: no cover - a put always has a value
            return None
        return Versioned(CallRecord.model_validate_json(entry.value), entry.revision or 0)

    async def put(self, record: CallRecord) -> int:
        """Write ``record`` whatever is there; returns its revision."""
        return await self._kv.put(call_key(record.call_id), record.model_dump_json(exclude_none=True).encode())

    async def create(self, record: CallRecord) -> int | None:
        """Write ``record`` if its call has no record; its revision, or None if one exists."""
        try:
            return await self._kv.create(call_key(record.call_id), record.model_dump_json(exclude_none=True).encode())
        except KeyWrongLastSequenceError:
            return None

    async def update(self, record: CallRecord, revision: int) -> int | None:
        """Write ``record`` if its call's record is still at ``revision``; the new revision, or None if it moved."""
        data = record.model_dump_json(exclude_none=True).encode()
        try:
            return await self._kv.update(call_key(record.call_id), data, last=revision)
        except KeyWrongLastSequenceError:
            return None

    async def transition(
        self, call_id: str, change: Callable[[CallRecord | None], CallRecord | None]
    ) -> tuple[Versioned | None, bool]:
        """Apply ``change`` to the current record of ``call_id`` atomically.

        ``change`` gets the current record (None if there is none) and returns the new one, or
        None to leave it as it is. When another writer got in between the read and the write,
        ``change`` decides again on what that writer left.

        Returns:
            The record now stored (None if there is none) and whether ``change`` wrote it.

        Raises:
            StatusConflict: the record changed under every one of many tries.
        """
        for _ in range(_CONFLICT_RETRIES):
            current = await self.get(call_id)
            new = change(current.record if current else None)
            if new is None:
                return current, False
            revision = await (self.create(new) if current is None else self.update(new, current.revision))
            if revision is not None:
                return Versioned(new, revision), True
        raise StatusConflict(f"call {call_id}: its status kept changing under {_CONFLICT_RETRIES} tries")

    async def reset_to_queued(self, call_id: str, *, enqueued_at: datetime | None = None) -> CallRecord | None:
        """Put a call back to ``queued`` with no attempt made (a redrive); None if it has no record.

        A call without a record needs none: until a worker claims it, its status is read from the queue.
        """

        def requeue(current: CallRecord | None) -> CallRecord | None:
            return queued_record(current, enqueued_at or now()) if current is not None else None

        stored, _ = await self.transition(call_id, requeue)
        return stored.record if stored else None
