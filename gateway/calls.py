"""``/async-calls/<call-id>``: an async call's status (GET) and its cancellation (DELETE).

The gateway writes no status when it queues a call (that would cost its hot path a second
write). A call without a record is read from the queue instead: its message waits on
``<stream>.<queue>.<call-token>``, so one get of the last message on ``<stream>.*.<call-token>``
finds it, ``queued`` since the enqueue time in its headers. Workers write everything after.

A cancel is a revision-checked transition of the record (created from the queued message
if there is none yet), so it cannot win against a worker's claim of the same call: one of
the two writes fails and its writer decides again on what the other wrote. A cancelled
call's message is then deleted from the queue; if a worker got it first, it finds the
record ``cancelled`` and acks it without running it.

OpenFaaS Pro's form ``DELETE /async-function/<call-id>`` is a cancel too: a ``DELETE`` with
nothing after the name. (``DELETE /async-function/<name>/`` still queues a DELETE call.)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import NamedTuple, Protocol

import nats.errors
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from starlette.types import Receive, Scope, Send

from calls.status import CallRecord, CallState, cancel, queued_record
from calls.status_store import CallStore, StatusConflict
from calls.wire import CALL_ID_PATTERN, MalformedCall, QueuedCall, waiting_subject
from gateway.errors import GatewayError, QueueUnavailable
from gateway.responses import send_error, send_json
from plumbing.asgi import send_text
from plumbing.logs import current_call_id

__all__ = ["CALLS_PREFIX", "CallLedger", "CallsRoute", "Cancelled", "JetStreamCalls", "cancel_form_call_id"]

logger = logging.getLogger(__name__)

CALLS_PREFIX = "/async-calls/"
_ASYNC_PREFIX = "/async-function/"


def cancel_form_call_id(method: str, path: str) -> str | None:
    """The call id of OpenFaaS Pro's cancel form ``DELETE /async-function/<call-id>``, else None."""
    if method != "DELETE" or not path.startswith(_ASYNC_PREFIX):
        return None
    rest = path[len(_ASYNC_PREFIX) :]
    return rest if rest and "/" not in rest else None


class Cancelled(NamedTuple):
    """What a cancel found: the call's record now (None: unknown call) and whether this cancel made it."""

    record: CallRecord | None
    cancelled: bool


class CallLedger(Protocol):
    """Reads and cancels async calls. ``startup`` runs before the first request, ``shutdown`` after the last."""

    async def startup(self) -> None:
        """Open the call status bucket."""

    async def shutdown(self) -> None:
        """Release what ``startup`` opened."""

    async def status(self, call_id: str) -> CallRecord | None:
        """The status of ``call_id``, or None if no call with that id is known.

        Raises:
            QueueUnavailable: NATS could not be asked.
        """

    async def cancel(self, call_id: str) -> Cancelled:
        """Cancel ``call_id`` if it has not started.

        Raises:
            QueueUnavailable: NATS could not be asked.
        """


class _Waiting(NamedTuple):
    call: QueuedCall
    seq: int


class JetStreamCalls:
    """A :class:`CallLedger` over the calls' stream and the call status bucket.

    Args:
        jetstream: the gateway's JetStream context once it is connected (the publisher's).
        stream: the calls' stream.
        bucket: the call status bucket.
        ttl: how long a record lives after its last change (the bucket is created with it).
    """

    def __init__(
        self, jetstream: Callable[[], JetStreamContext | None], *, stream: str, bucket: str, ttl: timedelta
    ) -> None:
        self._jetstream = jetstream
        self._stream = stream
        self._bucket = bucket
        self._ttl = ttl
        self._store: CallStore | None = None

    async def startup(self) -> None:
        """Create or bind the bucket (the publisher is connected by now; without JetStream, requests get 503)."""
        js = self._jetstream()
        if js is not None:
            self._store = await CallStore.open(js, self._bucket, self._ttl)

    async def shutdown(self) -> None:
        """Nothing to release: the connection is the publisher's."""

    def _parts(self) -> tuple[JetStreamContext, CallStore]:
        js = self._jetstream()
        if js is None or self._store is None:
            raise QueueUnavailable("not connected to NATS")
        return js, self._store

    async def status(self, call_id: str) -> CallRecord | None:
        """The record, else the queued message, else None."""
        js, store = self._parts()
        stored = await store.get(call_id)
        if stored is not None:
            return stored.record
        waiting = await self._waiting(js, call_id)
        return queued_record(waiting.call) if waiting is not None else None

    async def cancel(self, call_id: str) -> Cancelled:
        """Move the record to ``cancelled`` if it has not started, then delete the call's message."""
        js, store = self._parts()
        waiting = await self._waiting(js, call_id)
        as_queued = queued_record(waiting.call) if waiting is not None else None

        def change(current: CallRecord | None) -> CallRecord | None:
            return cancel(current or as_queued)

        stored, changed = await store.transition(call_id, change)
        # A batch item's message stays: the worker that takes it finds it cancelled and counts it in its batch.
        if changed and waiting is not None and waiting.call.batch_id is None:
            await self._delete(js, waiting)
        return Cancelled(stored.record if stored else None, changed)

    async def _waiting(self, js: JetStreamContext, call_id: str) -> _Waiting | None:
        try:
            msg = await js.get_msg(self._stream, subject=waiting_subject(self._stream, call_id))
        except NotFoundError:
            return None
        try:
            return _Waiting(QueuedCall.from_message(msg.headers, msg.data or b""), msg.seq or 0)
        except MalformedCall:
            return None

    async def _delete(self, js: JetStreamContext, waiting: _Waiting) -> None:
        try:
            await js.delete_msg(self._stream, waiting.seq)
        except (NotFoundError, nats.errors.Error) as exc:
            # Already taken by a worker (which finds the record cancelled and acks it): nothing to do.
            logger.debug("cancelled call's message %d not deleted: %s", waiting.seq, exc)


class CallsRoute:
    """ASGI app for ``/async-calls/<call-id>`` and the cancel form of ``/async-function/<call-id>``.

    Args:
        ledger: reads and cancels calls.
    """

    def __init__(self, ledger: CallLedger) -> None:
        self._ledger = ledger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``GET`` answers the status, ``DELETE`` cancels; other methods get 405."""
        method: str = scope["method"]
        call_id = cancel_form_call_id(method, scope["path"]) or scope["path"][len(CALLS_PREFIX) :]
        if method not in ("GET", "DELETE"):
            await send_text(send, 405, "Method Not Allowed", [(b"allow", b"GET, DELETE")])
            return
        if not CALL_ID_PATTERN.match(call_id):
            await send_text(send, 400, f"invalid call id {call_id!r}: expected the X-Call-Id of an async call")
            return
        current_call_id.set(call_id)
        try:
            if method == "DELETE":
                await self._cancel(call_id, send)
            else:
                await self._status(call_id, send)
        except (GatewayError, StatusConflict, nats.errors.Error, OSError) as exc:
            error = exc if isinstance(exc, GatewayError) else QueueUnavailable(str(exc) or type(exc).__name__)
            error.call_id = call_id
            logger.error("%s of call %s failed: %s", "cancel" if method == "DELETE" else "status", call_id, error)
            await send_error(send, error)

    async def _status(self, call_id: str, send: Send) -> None:
        record = await self._ledger.status(call_id)
        if record is None:
            await send_text(send, 404, _unknown(call_id))
            return
        await _send_json(send, 200, record)

    async def _cancel(self, call_id: str, send: Send) -> None:
        record, cancelled = await self._ledger.cancel(call_id)
        if record is None:
            await send_text(send, 404, _unknown(call_id))
        elif cancelled:
            logger.info("call %s cancelled", call_id)
            await _send_json(send, 202, record)
        else:
            why = "is running" if record.state is CallState.RUNNING else f"has finished ({record.state})"
            await send_text(send, 409, f"call {call_id} {why}: only a call that has not started can be cancelled")


def _unknown(call_id: str) -> str:
    return f"call {call_id} not found: unknown, or its status has expired"


async def _send_json(send: Send, status: int, record: CallRecord) -> None:
    body = record.model_dump_json(exclude_none=True).encode()
    await send_json(send, status, body, [(b"x-call-id", record.call_id.encode())])
