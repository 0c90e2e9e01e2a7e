"""Call status: one record per async call, keyed by call id, in a JetStream key-value bucket with a TTL.

A call is ``queued`` until a worker claims it (``running``); a run ends ``succeeded`` or
``failed``, or the call waits for another run (``retrying``) or is given up (``dead``). A
call that has not started can be ``cancelled``. Every change of state is a
revision-checked write (:meth:`CallStore.transition`), so a cancel and a start of the same
call cannot both win: the second writer sees a revision that moved and decides again on
what the first one wrote. Which changes are allowed is decided by pure functions
(:func:`claim`, :func:`cancel`); the store only reads and writes.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Literal, NamedTuple

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BadRequestError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue
from pydantic import BaseModel, ConfigDict, Field

from provider.queue import QueuedCall, call_token

__all__ = [
    "DEFAULT_BUCKET",
    "DEFAULT_TTL",
    "NOT_STARTED",
    "TERMINAL",
    "CallRecord",
    "CallResult",
    "CallState",
    "CallStore",
    "StatusConflict",
    "Versioned",
    "call_key",
    "cancel",
    "claim",
    "now",
    "open_bucket",
    "queued_record",
]

logger = logging.getLogger(__name__)

DEFAULT_BUCKET = "faas-calls"
DEFAULT_TTL = timedelta(days=1)
_CONFLICT_RETRIES = 20


class CallState(StrEnum):
    """Where a call is in its life."""

    QUEUED = "queued"
    """Stored on the queue, not yet taken by a worker."""
    RUNNING = "running"
    """A worker is running it (``attempt`` says which run)."""
    RETRYING = "retrying"
    """A run failed and another is due at ``next_attempt_at``."""
    SUCCEEDED = "succeeded"
    """The function answered with a 2xx status."""
    FAILED = "failed"
    """The function's final answer was not a 2xx (or it could not be reached), and no retry was left to try."""
    DEAD = "dead"
    """Given up on and kept in the dead-letter stream (``reason`` says why)."""
    CANCELLED = "cancelled"
    """Cancelled before it started; it never runs."""


NOT_STARTED = frozenset({CallState.QUEUED, CallState.RETRYING})
"""States a cancel may end, and from which a worker may claim the call."""
TERMINAL = frozenset({CallState.SUCCEEDED, CallState.FAILED, CallState.DEAD, CallState.CANCELLED})
"""States after which the call does not run again (unless it is redriven)."""


class CallResult(BaseModel):
    """The function's response body, kept when the worker is configured to keep results (up to a size)."""

    model_config = ConfigDict(frozen=True)

    content_type: str | None = None
    encoding: Literal["text", "base64"] = "text"
    body: str = ""
    size: int = Field(0, description="The whole body's size in bytes.")
    truncated: bool = False

    @classmethod
    def of(cls, body: bytes, content_type: str | None, limit: int) -> CallResult:
        """Keep at most ``limit`` bytes of ``body``: as text if it is UTF-8, else base64."""
        kept = body[:limit]
        try:
            text, encoding = kept.decode(), "text"
        except UnicodeDecodeError:
            text, encoding = base64.b64encode(kept).decode(), "base64"
        return cls(
            content_type=content_type,
            encoding=encoding,  # type: ignore[arg-type]  # one of the two literals above
            body=text,
            size=len(body),
            truncated=len(kept) < len(body),
        )


class CallRecord(BaseModel):
    """The status of one async call; serialised as JSON with RFC 3339 timestamps.

    Attributes:
        call_id: the call's id (``X-Call-Id``).
        function: the function's name.
        namespace: the function's namespace.
        queue: the queue the call waits on.
        state: where the call is.
        attempt: the run in progress or last run (from 1); 0 before the first.
        max_attempts: the most runs the worker's policy allows, when known.
        next_attempt_at: when the next run is due (``retrying``).
        enqueued_at: when the gateway accepted the call.
        started_at: when the current or last run started.
        finished_at: when the call reached a final state.
        updated_at: when this record was written.
        status_code: the function's HTTP status of the last run (503/504 without a response).
        duration: seconds the last run took.
        reason: why the call failed, was dead-lettered or cancelled.
        callback_error: why the final callback could not be delivered, if it could not.
        result: the function's response body, if results are kept.
        batch_id: the batch the call is an item of, if any.
    """

    model_config = ConfigDict(frozen=True)

    call_id: str
    function: str
    namespace: str
    queue: str
    state: CallState
    attempt: int = 0
    max_attempts: int | None = None
    next_attempt_at: datetime | None = None
    enqueued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    updated_at: datetime | None = None
    status_code: int | None = None
    duration: float | None = None
    reason: str | None = None
    callback_error: str | None = None
    result: CallResult | None = None
    batch_id: str | None = None

    def to(self, state: CallState, **changes: object) -> CallRecord:
        """This record in ``state`` with ``changes``, stamped now."""
        return self.model_copy(update={"state": state, "updated_at": now(), **changes})


class Versioned(NamedTuple):
    """A record and the bucket revision it was read at (for a revision-checked update)."""

    record: CallRecord
    revision: int


class StatusConflict(RuntimeError):
    """A record kept changing under a transition: more concurrent writers than expected."""


def now() -> datetime:
    """The current time, in UTC."""
    return datetime.now(UTC)


def _from_ns(ns: int) -> datetime | None:
    return datetime.fromtimestamp(ns / 1e9, UTC) if ns > 0 else None


def queued_record(call: QueuedCall | CallRecord, enqueued_at: datetime | None = None) -> CallRecord:
    """A ``queued`` record of ``call`` with no attempt made.

    From a queued call: since its enqueue time, as the gateway stored it. From a record (a
    redrive): since ``enqueued_at``, keeping its call's identity and attempt limit.
    """
    if isinstance(call, QueuedCall):
        enqueued_at = enqueued_at or _from_ns(call.enqueued_at_ns)
        updated_at, max_attempts = enqueued_at, None
    else:
        updated_at, max_attempts = now(), call.max_attempts
    return CallRecord(
        call_id=call.call_id,
        function=call.function,
        namespace=call.namespace,
        queue=call.queue,
        state=CallState.QUEUED,
        max_attempts=max_attempts,
        enqueued_at=enqueued_at,
        updated_at=updated_at,
        batch_id=call.batch_id,
    )


def call_key(call_id: str) -> str:
    """The bucket key of a call id: its subject token (:func:`provider.queue.call_token`), valid as a key too."""
    return call_token(call_id)


def claim(current: CallRecord | None, call: QueuedCall, attempt: int, max_attempts: int | None) -> CallRecord | None:
    """The record of a worker starting run ``attempt`` of ``call``, or None if the call must not run.

    A call runs if it has no record or one that has not started; a record left ``running``
    by a worker that died is taken over (JetStream redelivered the call to us). If this
    enqueue of the call (same enqueue time) was cancelled or has finished, it does not run
    again; a later enqueue with the same call id (resent after the duplicate window) does.
    """
    if current is not None and current.state in TERMINAL:
        if current.enqueued_at == _from_ns(call.enqueued_at_ns):
            return None
        current = None
    base = current or queued_record(call)
    return base.to(
        CallState.RUNNING,
        attempt=attempt,
        max_attempts=max_attempts if max_attempts is not None else base.max_attempts,
        started_at=now(),
        next_attempt_at=None,
    )


def cancel(current: CallRecord | None, reason: str = "cancelled by request") -> CallRecord | None:
    """The record of a cancelled call, or None if ``current`` has started or finished (nothing to cancel)."""
    if current is None or current.state not in NOT_STARTED:
        return None
    stamp = now()
    return current.to(CallState.CANCELLED, finished_at=stamp, next_attempt_at=None, reason=reason)


async def open_bucket(js: JetStreamContext, bucket: str, ttl: timedelta) -> KeyValue:
    """Create a records bucket (file storage, one revision per key, records expire after ``ttl``), or bind to it.

    An existing bucket is brought to ``ttl``; its other settings are left as they are.
    """
    config = KeyValueConfig(bucket=bucket, history=1, ttl=ttl.total_seconds(), storage=StorageType.FILE)
    try:
        return await js.create_key_value(config)
    except BadRequestError:  # it exists with another configuration
        pass
    info = await js.stream_info(f"KV_{bucket}")
    if info.config.max_age != config.ttl:
        info.config.max_age = config.ttl
        await js.update_stream(info.config)
    return await js.key_value(bucket)


class CallStore:
    """The call records of one key-value bucket.

    Args:
        kv: the bucket (see :meth:`open`).
    """

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    @classmethod
    async def open(cls, js: JetStreamContext, bucket: str = DEFAULT_BUCKET, ttl: timedelta = DEFAULT_TTL) -> CallStore:
        """Create the bucket or bind to it: see :func:`open_bucket`."""
        return cls(await open_bucket(js, bucket, ttl))

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
