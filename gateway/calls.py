"""``/async-calls/<call-id>``: an async call's status (GET) and its cancellation (DELETE).

A call without a status record yet is read from the queue, where its message waits; a
cancel is a revision-checked transition of the record, so it cannot win against a worker's
claim of the same call (see docs/internals.md). OpenFaaS Pro's ``DELETE /async-function/<call-id>``
is a cancel too.
"""

from __future__ import annotations

import logging
from typing import NamedTuple, Protocol

import nats.errors
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from starlette.types import Receive, Scope, Send

from calls.metrics import CallMetrics, NoMetrics, function_label
from calls.status import CallRecord, CallState, cancel, queued_record
from calls.status_store import CallStore, StatusConflict
from calls.wire import CALL_ID_PATTERN, MalformedCall, QueuedCall, waiting_subject
from gateway.errors import GatewayError, QueueUnavailable
from gateway.responses import send_error
from gateway.stores import Stores
from plumbing.asgi import send_json, send_text
from plumbing.logs import current_call_id

__all__ = ["CallLedger", "CallsRoute", "Cancelled", "JetStreamCalls"]

logger = logging.getLogger(__name__)


class Cancelled(NamedTuple):
    """What a cancel found: the call's record now (None: unknown call) and whether this cancel made it."""

    record: CallRecord | None
    cancelled: bool


class CallLedger(Protocol):
    """Reads and cancels async calls."""

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
        stores: the gateway's JetStream records.
        metrics: counts a cancelled call whose message it deleted as settled.
    """

    def __init__(self, stores: Stores, metrics: CallMetrics | None = None) -> None:
        self._stores = stores
        self._stream = stores.settings.faas_nats_channel
        self._metrics = metrics or NoMetrics()

    async def _parts(self) -> tuple[JetStreamContext, CallStore]:
        return self._stores.jetstream(), await self._stores.calls()

    async def status(self, call_id: str) -> CallRecord | None:
        """The record, else the queued message, else None."""
        js, store = await self._parts()
        stored = await store.get(call_id)
        if stored is not None:
            return stored.record
        waiting = await self._waiting(js, call_id)
        return queued_record(waiting.call) if waiting is not None else None

    async def cancel(self, call_id: str) -> Cancelled:
        """Move the record to ``cancelled`` if it has not started, then delete the call's message."""
        js, store = await self._parts()
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
            return
        call = waiting.call
        self._metrics.settled(function_label(call.function, call.namespace), call.queue)


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
        # /async-calls/<call-id>, or the cancel form /async-function/<call-id>
        call_id = scope["path"].split("/", 2)[2]
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
