"""Status hooks: the worker keeps each call's status record up to date as it runs the call.

A run starts with a claim (:func:`calls.status.claim`, a revision-checked write that loses
to a cancel that got in first) and its end is written at the claim's revision, each write
awaited before the message is settled (see docs/internals.md).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial

from nats.js import JetStreamContext

from calls.deadletters import Kind
from calls.outcome import Attempt, Outcome
from calls.retry_decision import Ack, Retry, Verdict
from calls.status import TERMINAL, CallRecord, CallResult, CallState, claim, now, queued_record, waiting
from calls.status_store import CallStore, Versioned
from calls.wire import QueuedCall
from queue_worker.batches import BatchTracker
from queue_worker.hooks import WorkerHooks

__all__ = ["StatusHooks", "final_state", "finished_record"]

logger = logging.getLogger(__name__)


def final_state(outcome: Outcome) -> CallState:
    """A finished run's state: ``succeeded`` for the function's 2xx, else ``failed``."""
    return CallState.SUCCEEDED if outcome.status is not None and 200 <= outcome.status < 300 else CallState.FAILED


def finished_record(
    claimed: CallRecord,
    outcome: Outcome,
    verdict: Ack | Retry,
    *,
    result_bytes: int = 0,
    callback_error: str | None,
    callback: str | None = None,
) -> CallRecord:
    """The record after a run that ended in ``outcome`` with ``verdict`` (retry later, or done).

    ``callback``: how its callback went, if it went out before (``delivered`` or ``retrying``).
    """
    stamp = now()
    fields: dict[str, object] = {
        "status_code": outcome.reported_status,
        "duration": round(outcome.duration, 6),
        "reason": None if final_state(outcome) is CallState.SUCCEEDED else _reason(outcome),
    }
    if isinstance(verdict, Retry):
        return claimed.to(CallState.RETRYING, next_attempt_at=stamp + timedelta(seconds=verdict.delay), **fields)
    if callback_error is not None:
        fields["callback_error"], fields["callback"] = callback_error, "failed"
    elif callback is not None:
        fields["callback"] = callback
    if result_bytes > 0:
        fields["result"] = CallResult.of(outcome.body, outcome.content_type, result_bytes)
    return claimed.to(final_state(outcome), finished_at=stamp, **fields)


def _reason(outcome: Outcome) -> str:
    return f"{outcome.summary}: {outcome.detail}" if outcome.detail else outcome.summary


class StatusHooks(WorkerHooks):
    """Records each call's status in the call status bucket.

    Args:
        js: the JetStream context the bucket is opened with at :meth:`startup`.
        bucket: the bucket's name.
        ttl: how long a record lives after its last write.
        replicas: copies of the bucket a NATS cluster keeps.
        result_bytes: keep up to this many bytes of the function's response in the record (0: none).
        batches: told about every batch item's state, to keep its batch's record.
    """

    def __init__(
        self,
        js: JetStreamContext,
        *,
        bucket: str,
        ttl: timedelta,
        replicas: int = 1,
        result_bytes: int = 0,
        batches: BatchTracker | None = None,
    ) -> None:
        self._js = js
        self._bucket = bucket
        self._ttl = ttl
        self._replicas = replicas
        self._result_bytes = result_bytes
        self._batches = batches
        self._store: CallStore | None = None
        self._claimed: dict[str, Versioned] = {}
        self._callback_errors: dict[str, str] = {}
        self._callbacks: dict[str, str] = {}

    @property
    def store(self) -> CallStore:
        """The bucket's store (after :meth:`startup`)."""
        if self._store is None:
            raise RuntimeError("StatusHooks.startup() has not run")
        return self._store

    async def startup(self) -> None:
        """Create or bind the call status bucket."""
        self._store = await CallStore.open(self._js, self._bucket, self._ttl, self._replicas)

    async def call_waiting(self, call: QueuedCall, state: CallState) -> None:
        """Record that the call waits, and why (a batch counts it as queued still)."""
        self._claimed.pop(call.call_id, None)  # a run answered 429 gives its claim back
        await self.store.transition(call.call_id, partial(waiting, call=call, state=state))

    async def call_started(self, call: QueuedCall, attempt: Attempt) -> bool:
        """Claim the call; False if it was cancelled or has finished already (a redelivery after its end)."""
        claimed = await self._claim(call, attempt)
        if claimed is None:
            return False
        self._claimed[call.call_id] = claimed
        return True

    async def _claim(self, call: QueuedCall, attempt: Attempt) -> Versioned | None:
        decide = partial(claim, call=call, attempt=attempt)
        # First delivery: the gateway wrote no record, so one create-if-absent usually settles it.
        if attempt.number == 1 and (running := decide(None)) is not None:
            revision = await self.store.create(running)
            if revision is not None:
                self._moved(running)
                return Versioned(running, revision)
        stored, changed = await self.store.transition(call.call_id, decide)
        if not changed:
            state = stored.record.state if stored else "?"
            logger.info("call %s is %s: not run again", call.call_id, state)
            if stored is not None:
                await self._finished(stored.record)  # a redelivery: its batch may not know yet
            return None
        if stored is not None:
            self._moved(stored.record)
        return stored

    def _moved(self, record: CallRecord) -> None:
        if self._batches is not None and record.batch_id is not None:
            self._batches.moved(record)

    async def _finished(self, record: CallRecord) -> None:
        if self._batches is not None and record.batch_id is not None:
            await self._batches.finished(record)

    async def callback_failed(self, call: QueuedCall, attempt: Attempt, outcome: Outcome, reason: str) -> None:
        """Remember why the callback failed, for the final record."""
        self._callback_errors[call.call_id] = reason

    async def callback_undelivered(self, call: QueuedCall, attempt: Attempt, outcome: Outcome, reason: str) -> None:
        """Add why its callback could not be delivered to the finished call's record."""

        def noted(current: CallRecord | None) -> CallRecord | None:
            if current is None or current.callback_error == reason:
                return None
            return current.model_copy(update={"callback_error": reason, "callback": "failed", "updated_at": now()})

        await self.store.transition(call.call_id, noted)

    async def callback_sent(self, call: QueuedCall, attempt: Attempt, *, delivered: bool) -> None:
        """Remember how the callback went, for the final record."""
        self._callbacks[call.call_id] = "delivered" if delivered else "retrying"

    async def callback_delivered(self, call: QueuedCall, attempt: Attempt) -> None:
        """Note on the finished call's record that its callback went out at last."""

        def noted(current: CallRecord | None) -> CallRecord | None:
            # Still running: the run that stored it for a retry has not written its end yet, and keeps the note.
            noted_state = current is not None and (current.state in TERMINAL or current.state is CallState.RUNNING)
            if current is None or not noted_state or current.callback == "delivered":
                return None
            return current.model_copy(update={"callback": "delivered", "updated_at": now()})

        await self.store.transition(call.call_id, noted)

    async def call_finished(self, call: QueuedCall, attempt: Attempt, outcome: Outcome, verdict: Verdict) -> None:
        """Record ``succeeded``/``failed``, or ``retrying`` and when; ``dead`` is :meth:`dead_letter`'s."""
        callback_error = self._callback_errors.pop(call.call_id, None)
        callback = self._callbacks.pop(call.call_id, None)
        if not isinstance(verdict, Ack | Retry):
            return
        claimed = self._claimed.pop(call.call_id, None)
        if claimed is None:  # pragma: no cover - call_started always claims before a run
            return
        new = finished_record(
            claimed.record,
            outcome,
            verdict,
            result_bytes=self._result_bytes,
            callback_error=callback_error,
            callback=callback,
        )
        if await self.store.update(new, claimed.revision) is None and not await self._over_a_note(claimed, new):
            logger.info("call %s: its status moved on since this run started; not overwritten", call.call_id)
        elif isinstance(verdict, Retry):
            self._moved(new)
        else:
            await self._finished(new)

    async def _over_a_note(self, claimed: Versioned, new: CallRecord) -> bool:
        """Write ``new`` over a record that only a note changed since the claim (its callback delivered first).

        The callback sender may deliver a callback stored for a retry before the run that stored it
        wrote its end: the record it noted is still this run's. Anything else moved on for good.
        """

        def finish(current: CallRecord | None) -> CallRecord | None:
            this_run = current is not None and current.state is CallState.RUNNING and current.attempt == new.attempt
            if not this_run or current is None or current.started_at != claimed.record.started_at:
                return None
            return new.model_copy(update={"callback": current.callback or new.callback})

        _, changed = await self.store.transition(new.call_id, finish)
        return changed

    async def dead_letter(
        self, call: QueuedCall, attempt: Attempt, outcome: Outcome, reason: str, kind: Kind | None = None
    ) -> None:
        """Record ``dead`` with ``reason``."""
        claimed = self._claimed.pop(call.call_id, None)
        base = claimed.record if claimed else queued_record(call)
        dead = base.to(
            CallState.DEAD,
            attempt=max(attempt.number, base.attempt),
            finished_at=now(),
            next_attempt_at=None,
            status_code=outcome.reported_status,
            duration=round(outcome.duration, 6),
            reason=reason,
        )
        await self.store.put(dead)
        await self._finished(dead)
