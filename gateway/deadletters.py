"""The dead letters as the gateway administers them: list, find by call id, redrive, purge.

A redrive queues the call again with its original body and metadata under a fresh
``Nats-Msg-Id``, puts its status record back to ``queued``, and removes the dead letter only
once JetStream has stored the call (see docs/internals.md).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import nats.errors
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from calls.deadletters import DeadLetterEntry, call_filter, subject_filter
from calls.wire import MalformedCall, call_subject, queue_subject
from gateway.errors import QueueUnavailable
from gateway.stores import Stores

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
    """The dead letters of the gateway's dead-letter stream, and the queues they are redriven to.

    Args:
        stores: the gateway's JetStream records (the dead-letter stream, the call status bucket).
        timeout: seconds to wait for JetStream to store a redriven call.
    """

    def __init__(self, stores: Stores, *, timeout: float) -> None:
        self._stores = stores
        self.stream = stores.settings.dead_letter_stream
        self._calls_stream = stores.settings.faas_nats_channel
        self._timeout = timeout

    async def _js(self) -> JetStreamContext:
        return await self._stores.dead_letters()

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
        await self._requeue_status(call.call_id, datetime.fromtimestamp(call.enqueued_at_ns / 1e9, UTC))
        headers = call.nats_headers(msg_id=f"{call.call_id}:redrive:{entry.seq}")
        subject = call_subject(queue_subject(self._calls_stream, call.queue), call.call_id, call.priority)
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
        """Remove ``entry``, and its call's body if it was too large for a message."""
        await self._delete(await self._js(), entry)
        if entry.call.body_object is not None:
            await (await self._stores.bodies()).delete(entry.call.body_object)

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

    async def _requeue_status(self, call_id: str, enqueued_at: datetime) -> None:
        store = await self._stores.calls()
        await store.reset_to_queued(call_id, enqueued_at=enqueued_at)
