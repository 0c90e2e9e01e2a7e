"""Pending callbacks: a run's result, stored durably before its call is acked, for the callback sender to deliver.

One message per callback on ``<callback-stream>.<call-token>`` of a work-queue stream: its
headers are the call's (:meth:`calls.wire.QueuedCall.nats_headers`) and the run's outcome
and attempt; its body is the function's response body followed by the call's own (kept for
a dead letter, which a redrive runs again), the first ``Faasq-Outcome-Length`` bytes. Its message id is the call's with
its enqueue time, so a result stored twice (its run's message redelivered before the ack)
is delivered once. :mod:`queue_worker.dispatcher` takes them from there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from nats.js import JetStreamContext

from calls.outcome import Attempt, Failure, Outcome
from calls.wire import MSG_ID, QueuedCall, call_token

__all__ = ["Outbox", "PendingCallback"]

_STATUS = "Faasq-Outcome-Status"
_FAILURE = "Faasq-Outcome-Failure"
_DETAIL = "Faasq-Outcome-Detail"
_DURATION = "Faasq-Outcome-Duration"
_HEADERS = "Faasq-Outcome-Headers"
_ATTEMPT = "Faasq-Attempt"
_ATTEMPT_LIMIT = "Faasq-Attempt-Limit"
_LENGTH = "Faasq-Outcome-Length"


@dataclass(frozen=True, slots=True)
class PendingCallback:
    """A callback to deliver: the call, its final run's outcome, and which run that was."""

    call: QueuedCall
    outcome: Outcome
    attempt: Attempt

    def message(self) -> tuple[dict[str, str], bytes]:
        """The NATS headers and body that store it."""
        headers = self.call.nats_headers()
        headers[MSG_ID] = f"callback:{self.call.call_id}:{self.call.enqueued_at_ns}"
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
        return cls(call, outcome, Attempt(int(headers[_ATTEMPT]), int(headers[_ATTEMPT_LIMIT])))


class Outbox:
    """Stores pending callbacks on their stream.

    Args:
        js: the JetStream context.
        stream: the stream of pending callbacks (see :func:`calls.streams.ensure_callback_stream`).
    """

    def __init__(self, js: JetStreamContext, stream: str) -> None:
        self._js = js
        self._stream = stream

    async def store(self, call: QueuedCall, outcome: Outcome, attempt: Attempt) -> None:
        """Store the callback of ``call``'s final run; returns once JetStream has it.

        Raises:
            nats.errors.Error: it could not be stored (the call is then left for redelivery).
        """
        headers, body = PendingCallback(call, outcome, attempt).message()
        await self._js.publish(f"{self._stream}.{call_token(call.call_id)}", body, headers=headers)
