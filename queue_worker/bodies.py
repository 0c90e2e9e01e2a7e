"""Calls whose body waits in the body bucket (:mod:`calls.bodies`): streamed to each run, deleted once done with."""

from __future__ import annotations

import logging
import tempfile
from typing import BinaryIO, Protocol

import nats.errors
from nats.js import JetStreamContext

from calls.bodies import Bodies, BodyMissing
from calls.outcome import Attempt, Failure, Outcome
from calls.retry_decision import Ack, Verdict
from calls.settings import CallSettings
from calls.wire import QueuedCall
from queue_worker.hooks import WorkerHooks

__all__ = ["BodyInvoker", "BodyReader", "CallBodies"]

logger = logging.getLogger(__name__)


class CallBodies(WorkerHooks):
    """The body bucket, opened at start-up; a call's body is deleted once the call is done with.

    That is when it finished, or, if it has a callback, once its callback is delivered: a
    callback the sender gives up on is dead-lettered with its call, and a dead-lettered call
    keeps its body (a redrive runs it again), as a call to be retried needs it again. Run it
    after the status hooks: a redelivery of a call whose body is gone finds its record finished
    and is skipped.

    Args:
        js: the worker's JetStream context.
        settings: the bucket's name, age limit and replicas.
    """

    def __init__(self, js: JetStreamContext, settings: CallSettings) -> None:
        self._js = js
        self._settings = settings
        self._bodies: Bodies | None = None
        self._delivered: set[tuple[str, int]] = set()
        """Calls whose callback went out before they were settled: ``call_finished`` deletes their bodies."""

    async def startup(self) -> None:
        """Create or bind the body bucket."""
        settings = self._settings
        self._bodies = await Bodies.open(
            self._js, settings.body_bucket, settings.body_max_age, settings.nats_stream_replicas
        )

    def bucket(self) -> Bodies:
        """The body bucket (callbacks too large for a message wait there too: :mod:`queue_worker.outbox`).

        Raises:
            BodyMissing: it is not open yet.
        """
        if self._bodies is None:
            raise BodyMissing("the body bucket is not open yet")
        return self._bodies

    async def call_finished(self, call: QueuedCall, attempt: Attempt, outcome: Outcome, verdict: Verdict) -> None:
        """Delete the body of a finished call (not one to retry or to dead-letter) whose callback, if any, went out.

        The status hooks ran before: a redelivery of the call finds its record finished.
        """
        delivered = (call.call_id, call.enqueued_at_ns)
        if delivered in self._delivered:
            self._delivered.discard(delivered)
        elif call.callback_url:
            return
        if isinstance(verdict, Ack):
            await self._done_with(call)

    async def callback_sent(self, call: QueuedCall, attempt: Attempt, *, delivered: bool) -> None:
        """Note a callback delivered before its call is settled (not one stored to be tried again)."""
        if delivered and call.body_object is not None:
            self._delivered.add((call.call_id, call.enqueued_at_ns))

    async def callback_delivered(self, call: QueuedCall, attempt: Attempt) -> None:
        """Delete the body of a call whose stored callback was delivered."""
        await self._done_with(call)

    async def _done_with(self, call: QueuedCall) -> None:
        if call.body_object is None or self._bodies is None:
            return
        try:
            await self._bodies.delete(call.body_object)
        except nats.errors.Error as exc:  # it expires with the bucket's age limit
            logger.warning("call %s: its body could not be deleted (%s)", call.call_id, exc or type(exc).__name__)


class BodyInvoker(Protocol):
    """Runs a call with its body read from a file (:class:`~queue_worker.invoker.HttpInvoker`)."""

    async def invoke(self, call: QueuedCall, attempt: Attempt, body: BinaryIO | None = None) -> Outcome:
        """Send run ``attempt`` of ``call`` to its function, ``body`` (if given) as its body."""


class BodyReader:
    """An :class:`~queue_worker.invoker.Invoker` that runs a call whose body waits in the body bucket with that body.

    The body is read into a temporary file and sent from there chunk by chunk, so a worker running
    many calls with large bodies does not hold them in memory. A body that cannot be read is a
    failed run, which the retry policy treats like a connection failure.
    """

    def __init__(self, invoker: BodyInvoker, bodies: CallBodies) -> None:
        self._invoker = invoker
        self._bodies = bodies

    async def invoke(self, call: QueuedCall, attempt: Attempt) -> Outcome:
        """Read the body back, then run the call."""
        if call.body_object is None:
            return await self._invoker.invoke(call, attempt)
        with tempfile.TemporaryFile() as spool:
            try:
                await self._bodies.bucket().get_into(call.body_object, spool)
            except (BodyMissing, nats.errors.Error) as exc:
                detail = f"its body could not be read from the body bucket: {str(exc) or type(exc).__name__}"
                return Outcome(None, failure=Failure.CONNECTION, detail=detail)
            spool.seek(0)
            return await self._invoker.invoke(call, attempt, spool)
