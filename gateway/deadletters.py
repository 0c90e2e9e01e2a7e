"""The dead letters as the gateway administers them: list, find by call id, redrive, purge.

Everything is read from and written to the dead-letter stream over the gateway's own NATS
connection; the stream is created on first use if no worker has created it yet. A redrive
puts the call back on its queue with the same call id, its original body and metadata, a
fresh enqueue time and a fresh ``Nats-Msg-Id`` (``<call id>:redrive:<dead-letter seq>``:
the duplicate window would drop the call id itself, while redriving the same dead letter
twice at once still queues it once). The call's status record goes back to ``queued``
first (a worker would not run a call whose record says ``dead``); the dead letter is
removed only once JetStream has stored the call again.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import nats.errors
from nats.js import JetStreamContext
from nats.js.errors import BucketNotFoundError, NotFoundError

from calls.deadletters import DeadLetterEntry, call_filter, subject_filter
from calls.status_store import CallStore
from calls.streams import ensure_dead_letter_stream
from calls.wire import MSG_ID, MalformedCall, call_subject, queue_subject
from gateway.errors import QueueUnavailable

__all__ = ["DeadLetterAdmin", "Filters"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Filters:
    """Which dead letters: of a namespace, of a function, given up on since a moment (None: any)."""

    namespace: str | None = None
    function: str | None = None
    since: datetime | None = None

    def matches(self, entry: DeadLetterEntry) -> bool:
        """Whether ``entry`` passes the time filter (the others are the subject filter's)."""
        return self.since is None or entry.dead_at_ns >= self.since.timestamp() * 1e9


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing; ``cursor`` gets the next one (None: this was the last)."""

    entries: list[DeadLetterEntry]
    cursor: int | None


class DeadLetterAdmin:
    """The dead letters of ``stream``, and the queues of ``calls_stream`` they are redriven to.

    Args:
        jetstream: the gateway's JetStream context, None while it has none.
        stream: the dead-letter stream.
        calls_stream: the calls' stream.
        status_bucket: the call status bucket (a redriven call's record goes back to ``queued``, if it has one).
        max_age: seconds a dead letter is kept (when this creates the stream).
        max_bytes: most bytes of dead letters kept (when this creates the stream).
        timeout: seconds to wait for JetStream to store a redriven call.
    """

    def __init__(
        self,
        jetstream: Callable[[], JetStreamContext | None],
        *,
        stream: str,
        calls_stream: str,
        status_bucket: str,
        max_age: float,
        max_bytes: int,
        timeout: float,
    ) -> None:
        self._jetstream = jetstream
        self.stream = stream
        self._calls_stream = calls_stream
        self._bucket = status_bucket
        self._max_age = max_age
        self._max_bytes = max_bytes
        self._timeout = timeout
        self._ready = False

    async def _js(self) -> JetStreamContext:
        js = self._jetstream()
        if js is None:
            raise QueueUnavailable("not connected to NATS")
        if not self._ready:
            await ensure_dead_letter_stream(js, self.stream, max_age=self._max_age, max_bytes=self._max_bytes)
            self._ready = True
        return js

    async def page(self, filters: Filters, *, after: int = 0, limit: int = 100) -> Page:
        """Up to ``limit`` dead letters matching ``filters``, oldest first, after stream sequence ``after``."""
        entries: list[DeadLetterEntry] = []
        async for entry in self._matching(filters, after):
            entries.append(entry)
            if len(entries) == limit:
                return Page(entries, entry.seq)
        return Page(entries, None)

    async def get(self, call_id: str) -> DeadLetterEntry | None:
        """The dead letter of ``call_id``, or None."""
        js = await self._js()
        try:
            msg = await js.get_last_msg(self.stream, call_filter(self.stream, call_id))
        except NotFoundError:
            return None
        return DeadLetterEntry.from_message(msg.headers, msg.data or b"", msg.seq or 0)

    async def redrive(self, entry: DeadLetterEntry) -> None:
        """Queue ``entry``'s call again, then remove the dead letter.

        Raises:
            QueueUnavailable: JetStream did not store the call; the dead letter is kept.
        """
        js = await self._js()
        call = replace(entry.call, enqueued_at_ns=time.time_ns())
        await self._requeue_status(js, call.call_id, datetime.fromtimestamp(call.enqueued_at_ns / 1e9, UTC))
        headers = call.nats_headers() | {MSG_ID: f"{call.call_id}:redrive:{entry.seq}"}
        subject = call_subject(queue_subject(self._calls_stream, call.queue), call.call_id)
        try:
            await js.publish(subject, call.body, timeout=self._timeout, headers=headers)
        except (nats.errors.Error, OSError) as exc:
            raise QueueUnavailable(
                f"call {call.call_id} not queued again ({exc or type(exc).__name__}); its dead letter is kept",
                call_id=call.call_id,
            ) from None
        await self._delete(js, entry)
        logger.info("call %s redriven to queue %s", call.call_id, call.queue)

    async def purge(self, entry: DeadLetterEntry) -> None:
        """Remove ``entry``."""
        await self._delete(await self._js(), entry)

    async def matching(self, filters: Filters) -> list[DeadLetterEntry]:
        """Every dead letter matching ``filters``, oldest first."""
        return [entry async for entry in self._matching(filters, 0)]

    async def _matching(self, filters: Filters, after: int) -> AsyncIterator[DeadLetterEntry]:
        js = await self._js()
        subject = subject_filter(self.stream, namespace=filters.namespace, function=filters.function)
        seq = after + 1
        while True:
            try:
                msg = await js.get_msg(self.stream, seq=seq, subject=subject, next=True)
            except NotFoundError:
                return
            seq = (msg.seq or seq) + 1
            try:
                entry = DeadLetterEntry.from_message(msg.headers, msg.data or b"", msg.seq or 0)
            except MalformedCall as exc:
                logger.warning("skipping message %d of %s: %s", msg.seq, self.stream, exc)
                continue
            if filters.matches(entry):
                yield entry

    async def _delete(self, js: JetStreamContext, entry: DeadLetterEntry) -> None:
        with contextlib.suppress(NotFoundError):  # purged or redriven meanwhile by another request
            await js.delete_msg(self.stream, entry.seq)

    async def _requeue_status(self, js: JetStreamContext, call_id: str, enqueued_at: datetime) -> None:
        try:
            store = CallStore(await js.key_value(self._bucket))
        except BucketNotFoundError:  # call status is off: nothing to reset
            return
        await store.reset_to_queued(call_id, enqueued_at=enqueued_at)
