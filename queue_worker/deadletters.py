"""The worker's side of dead letters: calls given up on, and undeliverable callbacks, copied to the dead-letter stream.

The copy is written before the call leaves the queue. If it cannot be written, the hook
raises: the consumer then leaves the call unsettled, JetStream redelivers it after
``ack_wait``, and nothing is lost. A callback that still fails after its retries is
dead-lettered as a callback failure and the call is acked: the function is not run again.
When the policy gives up on a call whose callback also failed, one dead letter says both.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace

import nats.errors
from nats.js import JetStreamContext

from calls.deadletters import DeadLetterEntry, Kind
from calls.metrics import CallMetrics, NoMetrics, function_label
from calls.outcome import Attempt, Failure, Outcome
from calls.retry_decision import DeadLetter, Verdict
from calls.streams import ensure_dead_letter_stream
from calls.wire import MalformedCall, QueuedCall
from queue_worker.hooks import WorkerHooks

__all__ = ["DeadLetterHooks", "DeadLetterWriteFailed"]

logger = logging.getLogger(__name__)


_KINDS = {Failure.EXPIRED: Kind.MAX_AGE, Failure.DEADLINE: Kind.DEADLINE}
"""Calls given up on without running: their kind, and their dead letter's status."""


class DeadLetterWriteFailed(RuntimeError):
    """The dead-letter stream did not store a call: it stays on the queue, to be redelivered."""


class DeadLetterHooks(WorkerHooks):
    """Writes dead letters to ``stream`` (created at start-up if missing).

    Args:
        js: the worker's JetStream context.
        stream: the dead-letter stream.
        max_age: seconds a dead letter is kept.
        max_bytes: most bytes the stream keeps (-1: no limit).
        replicas: copies of the stream a NATS cluster keeps.
        timeout: seconds to wait for JetStream to acknowledge one dead letter.
        metrics: counts the dead letters stored, by kind.
    """

    def __init__(
        self,
        js: JetStreamContext,
        stream: str,
        *,
        max_age: float,
        max_bytes: int,
        timeout: float,
        replicas: int = 1,
        metrics: CallMetrics | None = None,
    ) -> None:
        self._js = js
        self._replicas = replicas
        self._metrics = metrics or NoMetrics()
        self._stream = stream
        self._max_age = max_age
        self._max_bytes = max_bytes
        self._timeout = timeout
        self._undelivered: dict[tuple[str, int], str] = {}

    async def startup(self) -> None:
        """Create the dead-letter stream, or bring it to this configuration."""
        await ensure_dead_letter_stream(
            self._js, self._stream, max_age=self._max_age, max_bytes=self._max_bytes, replicas=self._replicas
        )

    async def callback_failed(self, call: QueuedCall, attempt: Attempt, outcome: Outcome, reason: str) -> None:
        """Remember the failure: :meth:`call_finished` or :meth:`dead_letter` writes it, once the verdict is known."""
        self._undelivered[(call.call_id, attempt.number)] = reason

    async def callback_undelivered(self, call: QueuedCall, attempt: Attempt, outcome: Outcome, reason: str) -> None:
        """Dead-letter the callback the sender gave up on (its call finished before).

        Raises:
            DeadLetterWriteFailed: it was not stored; the callback is taken up again later.
        """
        entry = DeadLetterEntry(call, Kind.CALLBACK, reason, "callback", attempt.number, time.time_ns())
        given_up = await self._given_up(entry)
        if given_up is not None:  # the call was dead-lettered itself: one dead letter says both
            entry = replace(given_up, reason=f"{given_up.reason}; and its {reason}", seq=0)
        await self._write(entry, counted=given_up is None)

    async def _given_up(self, entry: DeadLetterEntry) -> DeadLetterEntry | None:
        """The dead letter this run of the call already has, if it has one."""
        try:
            msg = await self._js.get_msg(self._stream, subject=entry.subject(self._stream))
        except (nats.errors.Error, OSError):  # none (or none readable): a dead letter of its own
            return None
        try:
            stored = DeadLetterEntry.from_message(msg.headers, msg.data or b"", msg.seq or 0)
        except MalformedCall:
            return None
        same = stored.call.enqueued_at_ns == entry.call.enqueued_at_ns and stored.kind is not Kind.CALLBACK
        return stored if same else None

    async def call_finished(self, call: QueuedCall, attempt: Attempt, outcome: Outcome, verdict: Verdict) -> None:
        """Dead-letter an undelivered callback of a finished call (a given-up call is left to :meth:`dead_letter`)."""
        if isinstance(verdict, DeadLetter):
            return
        reason = self._undelivered.pop((call.call_id, attempt.number), None)
        if reason is not None:
            await self._write(DeadLetterEntry(call, Kind.CALLBACK, reason, "callback", attempt.number, time.time_ns()))

    async def dead_letter(
        self, call: QueuedCall, attempt: Attempt, outcome: Outcome, reason: str, kind: Kind | None = None
    ) -> None:
        """Write the dead letter of a call given up on, of ``kind`` if given, else as ``outcome`` says.

        Raises:
            DeadLetterWriteFailed: it was not stored; the call must not be terminated.
        """
        if kind is None:
            kind = _KINDS.get(outcome.failure, Kind.FUNCTION) if outcome.failure is not None else Kind.FUNCTION
        if (callback := self._undelivered.pop((call.call_id, attempt.number), None)) is not None:
            reason = f"{reason}; and its {callback}"
        status = kind.value if kind in _KINDS.values() else _status(outcome)
        await self._write(DeadLetterEntry(call, kind, reason, status, attempt.number, time.time_ns()))

    async def _write(self, entry: DeadLetterEntry, *, counted: bool = True) -> None:
        try:
            ack = await self._js.publish(
                entry.subject(self._stream), entry.call.body, timeout=self._timeout, headers=entry.nats_headers()
            )
        except (nats.errors.Error, OSError) as exc:
            raise DeadLetterWriteFailed(
                f"dead letter of call {entry.call.call_id} not stored ({exc or type(exc).__name__}): "
                "left on the queue for redelivery"
            ) from exc
        call = entry.call
        if counted:
            self._metrics.dead_lettered(function_label(call.function, call.namespace), call.queue, entry.kind.value)
        logger.warning(
            "call %s dead-lettered (%s: %s) as %s #%d",
            entry.call.call_id,
            entry.kind,
            entry.reason,
            ack.stream,
            ack.seq,
        )


def _status(outcome: Outcome) -> str:
    return str(outcome.status) if outcome.status is not None else outcome.summary
