"""Pending callbacks: a run's result, stored durably before its call is acked, for the callback sender to deliver.

The worker that ran the call delivers its callback itself, at once. Usually before its run's
message is settled (a :class:`FinishedRun`): the run's slot is free, its message is kept in
progress, and only once the callback is delivered, or stored here for every worker's sender
because its POST failed (:meth:`Outbox.store`), is the call's status written and its message
acked. A worker that dies before leaves the call to be run again, like a run under way.
When the callback's host is crowded or failing, the callback is held instead (:meth:`Outbox.hold`),
before the message is settled: stored as a message schedule on ``<callback-stream>.=held.<call-token>``,
due on ``<callback-stream>.<call-token>`` some time later, and deleted once delivered. Only
if that worker dies first does JetStream put it where every worker's callback sender takes
it up. A held callback whose first POST fails is handed over at once (:meth:`Outbox.store`).

One message per callback on ``<callback-stream>.<call-token>`` of a work-queue stream: its
headers are the call's (:meth:`calls.wire.QueuedCall.nats_headers`) and the run's outcome
and attempt; its body is the function's response body followed by the call's own (kept for
a dead letter, which a redrive runs again), the first ``Faasq-Outcome-Length`` bytes. Its message id is the call's with
its enqueue time, so a result stored twice (its run's message redelivered before the ack)
is delivered once. :mod:`queue_worker.dispatcher` takes them from there.

A body too large for one message waits in the body bucket (:mod:`calls.bodies`) under the
message's id, named by ``Faasq-Outcome-Object``, and the message has none: :meth:`Outbox.read`
reads it back, and it is deleted once its message is settled (:meth:`Outbox.settled`,
:meth:`Outbox.release`), or expires with the bucket's age limit.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg

from calls.bodies import Bodies, BodyMissing
from calls.outcome import Attempt, Failure, Outcome
from calls.timing import rfc3339
from calls.wire import MSG_ID, SCHEDULE, SCHEDULE_TARGET, QueuedCall, call_token
from plumbing.nats_client import message_size

__all__ = ["HELD_PART", "FinishedRun", "Outbox", "PendingCallback"]

_STATUS = "Faasq-Outcome-Status"
_FAILURE = "Faasq-Outcome-Failure"
_DETAIL = "Faasq-Outcome-Detail"
_DURATION = "Faasq-Outcome-Duration"
_HEADERS = "Faasq-Outcome-Headers"
_ATTEMPT = "Faasq-Attempt"
_ATTEMPT_LIMIT = "Faasq-Attempt-Limit"
_LENGTH = "Faasq-Outcome-Length"
_TRIES = "Faasq-Callback-Tries"
_OBJECT = "Faasq-Outcome-Object"
HELD_PART = "=held"

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PendingCallback:
    """A callback to deliver: the call, its final run's outcome, and which run that was."""

    call: QueuedCall
    outcome: Outcome
    attempt: Attempt
    tries: int = 0
    """POSTs of it made already."""

    def message(self, *, held: bool = False) -> tuple[dict[str, str], bytes]:
        """The NATS headers and body that store it (``held``: the copy its worker holds, whose id is another)."""
        msg_id = f"callback:{self.call.call_id}:{self.call.enqueued_at_ns}:{self.tries}{':held' if held else ''}"
        headers = self.call.nats_headers(msg_id)
        if self.tries:
            headers[_TRIES] = str(self.tries)
        headers |= {
            _DURATION: repr(self.outcome.duration),
            _HEADERS: json.dumps(self.outcome.headers, separators=(",", ":")),
            _ATTEMPT: str(self.attempt.number),
            _ATTEMPT_LIMIT: str(self.attempt.limit),
            _LENGTH: str(len(self.outcome.body)),
        }
        if self.outcome.status is not None:
            headers[_STATUS] = str(self.outcome.status)
        if self.outcome.failure is not None:
            headers[_FAILURE] = self.outcome.failure.name
        if self.outcome.detail:
            headers[_DETAIL] = json.dumps(self.outcome.detail)  # escapes CR and LF
        return headers, self.outcome.body + self.call.body

    @classmethod
    def decode(cls, headers: dict[str, str] | None, body: bytes) -> PendingCallback:
        """A stored callback.

        Raises:
            calls.wire.MalformedCall: the call's headers do not decode.
            ValueError: the outcome's do not.
        """
        headers = headers or {}
        length = int(headers.get(_LENGTH, "0"))
        call = QueuedCall.from_message(headers, body[length:])
        outcome = Outcome(
            status=int(headers[_STATUS]) if _STATUS in headers else None,
            headers=[(str(name), str(value)) for name, value in json.loads(headers.get(_HEADERS, "[]"))],
            body=body[:length],
            duration=float(headers.get(_DURATION, "0")),
            failure=Failure[headers[_FAILURE]] if _FAILURE in headers else None,
            detail=str(json.loads(headers[_DETAIL])) if _DETAIL in headers else "",
        )
        attempt = Attempt(int(headers[_ATTEMPT]), int(headers[_ATTEMPT_LIMIT]))
        return cls(call, outcome, attempt, int(headers.get(_TRIES, "0")))


@dataclass(frozen=True, slots=True)
class FinishedRun:
    """A final run whose message is not settled yet: the callback sender settles it once the callback is safe."""

    msg: Msg
    """The run's message, kept in progress until then."""
    settle: Callable[[str | None, bool], Awaitable[None]]
    """Writes the call's end and settles its message; given why its callback could not be delivered (if so),
    and whether it was delivered (else it was stored to be tried again)."""


class Outbox:
    """Stores pending callbacks on their stream.

    Args:
        nc: the NATS connection.
        stream: the stream of pending callbacks (see :func:`calls.streams.ensure_callback_stream`).
        hold_for: seconds a callback held by its worker (:meth:`hold`) waits before any sender may take it.
    """

    def __init__(
        self, nc: Client, stream: str, hold_for: float = 60.0, bodies: Callable[[], Bodies] | None = None
    ) -> None:
        self._nc = nc
        self._js = nc.jetstream()
        self.stream = stream
        self._delete = f"$JS.API.STREAM.MSG.DELETE.{stream}"
        self.hold_for = hold_for
        self._bodies = bodies
        self._held_objects: dict[int, str] = {}
        """The objects of the callbacks this worker holds whose bodies wait in the body bucket, by sequence."""

    async def store(self, pending: PendingCallback) -> None:
        """Store ``pending`` for every worker's callback sender; returns once JetStream has it.

        Raises:
            nats.errors.Error: it could not be stored.
        """
        headers, body = await self._fitted(*pending.message())
        await self._js.publish(f"{self.stream}.{call_token(pending.call.call_id)}", body, headers=headers)

    async def read(self, msg: Msg) -> PendingCallback:
        """The callback ``msg`` stores, its body read back from the body bucket if it waits there.

        Raises:
            calls.bodies.BodyMissing: the bucket no longer has its body.
            calls.wire.MalformedCall: the call's headers do not decode.
            ValueError, KeyError: the outcome's do not.
            nats.errors.Error: the bucket could not be read.
        """
        headers = msg.headers or {}
        body = msg.data
        if _OBJECT in headers:
            if self._bodies is None:
                raise BodyMissing("no body bucket to read it from")
            body = await self._bodies().get(headers[_OBJECT])
        return PendingCallback.decode(headers, body)

    async def settled(self, msg: Msg) -> None:
        """Delete the body of a callback taken from the stream and settled, if it waits in the body bucket."""
        name = (msg.headers or {}).get(_OBJECT)
        if name is not None:
            await self._forget(name)

    async def _fitted(self, headers: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
        """The message as stored: a body too large for one goes to the body bucket, under the message's id."""
        if self._bodies is None or message_size(headers, body) <= self._nc.max_payload:
            return headers, body
        name = f"={headers[MSG_ID]}"  # no call id starts with "=": never a call's own body
        await self._bodies().put(name, body)
        return headers | {_OBJECT: name}, b""

    async def _forget(self, name: str) -> None:
        if self._bodies is None:
            return
        try:
            await self._bodies().delete(name)
        except nats.errors.Error as exc:  # it expires with the bucket's age limit
            logger.warning("callback body %s not deleted: %s", name, exc or type(exc).__name__)

    async def hold(self, pending: PendingCallback) -> int:
        """Store ``pending`` for this worker to deliver, due to every sender if it is not deleted in time.

        Returns:
            Its sequence in the stream, to delete once it is delivered or handed over.

        Raises:
            nats.errors.Error: it could not be stored (the call is then left for redelivery).
        """
        # Its id is not its copy's handed over, which would be dropped as a duplicate.
        headers, body = pending.message(held=True)
        token = call_token(pending.call.call_id)
        headers[SCHEDULE] = f"@at {rfc3339(time.time_ns() + int(self.hold_for * 1e9))}"
        headers[SCHEDULE_TARGET] = f"{self.stream}.{token}"
        headers, body = await self._fitted(headers, body)
        ack = await self._js.publish(f"{self.stream}.{HELD_PART}.{token}", body, headers=headers)
        if _OBJECT in headers:
            self._held_objects[ack.seq] = headers[_OBJECT]
        return ack.seq

    async def release(self, seq: int) -> None:
        """Delete a held callback (delivered, given up on, or handed over): it will not fall due.

        Not erased, only deleted: erasing (nats-py's ``delete_msg``) costs the server ten times as much.

        Raises:
            nats.errors.Error: it could not be deleted (it falls due later, and is delivered again).
        """
        name = self._held_objects.pop(seq, None)  # kept for the copy that falls due if this fails
        reply = await self._nc.request(self._delete, json.dumps({"seq": seq, "no_erase": True}).encode(), timeout=5)
        answer = json.loads(reply.data)
        if not answer.get("success"):
            raise nats.errors.Error(f"held callback {seq} not deleted: {answer.get('error')}")
        if name is not None:
            await self._forget(name)
