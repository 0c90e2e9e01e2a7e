"""Call status: one record per async call, and the rules of how it moves from state to state.

A call is ``queued`` until a worker claims it (``running``); a run ends ``succeeded`` or
``failed``, or the call waits for another run (``retrying``) or is given up (``dead``). A
call held back by its limits or its function's pause is ``waiting for concurrency``,
``rate limited`` or ``paused`` until it may start. A call that has not started can be
``cancelled``. Which changes are allowed is decided here by pure functions (:func:`claim`,
:func:`cancel`, :func:`waiting`); :mod:`calls.status_store` reads and writes the records,
each change a revision-checked write.
"""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from calls.outcome import Attempt
from calls.wire import QueuedCall

__all__ = [
    "NOT_STARTED",
    "TERMINAL",
    "WAITING",
    "CallRecord",
    "CallResult",
    "CallState",
    "cancel",
    "claim",
    "now",
    "queued_record",
    "waiting",
]


class CallState(StrEnum):
    """Where a call is in its life."""

    SCHEDULED = "scheduled"
    """Stored, due later (``X-Delay``, ``X-Not-Before``): ``next_attempt_at`` says when."""
    QUEUED = "queued"
    """Stored on the queue, not yet taken by a worker."""
    WAITING_FOR_CONCURRENCY = "waiting for concurrency"
    """Taken by a worker, waiting for a run of its function (or its concurrency key) to end, or for the
    function to take calls again after it answered 429."""
    RATE_LIMITED = "rate limited"
    """Taken by a worker, waiting for its function's rate to allow another run."""
    PAUSED = "paused"
    """Kept while its function's async calls are paused."""
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


WAITING = frozenset({CallState.WAITING_FOR_CONCURRENCY, CallState.RATE_LIMITED, CallState.PAUSED})
"""States of a call held back by flow control (see :class:`calls.flow.Wait`)."""
NOT_STARTED = frozenset({CallState.SCHEDULED, CallState.QUEUED, CallState.RETRYING}) | WAITING
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
        callback: how the final callback went: ``delivered``, ``retrying`` (its first POST failed; the
            callback sender tries again) or ``failed``; None while it is not known (or there is no callback).
        result: the function's response body, if results are kept.
        batch_id: the batch the call is an item of, if any.
        trace_id: the W3C trace id the call carries, if it carries one.
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
    callback: Literal["delivered", "retrying", "failed"] | None = None
    result: CallResult | None = None
    batch_id: str | None = None
    trace_id: str | None = None

    def to(self, state: CallState, **changes: object) -> CallRecord:
        """This record in ``state`` with ``changes``, stamped now."""
        return self.model_copy(update={"state": state, "updated_at": now(), **changes})


def now() -> datetime:
    """The current time, in UTC."""
    return datetime.now(UTC)


def _from_ns(ns: int) -> datetime | None:
    return datetime.fromtimestamp(ns / 1e9, UTC) if ns > 0 else None


def queued_record(call: QueuedCall | CallRecord, enqueued_at: datetime | None = None) -> CallRecord:
    """A ``queued`` record of ``call`` with no attempt made (``scheduled`` while a delayed call is not due).

    From a queued call: since its enqueue time, as the gateway stored it. From a record (a
    redrive): since ``enqueued_at``, keeping its call's identity and attempt limit.
    """
    state, due = CallState.QUEUED, None
    if isinstance(call, QueuedCall):
        enqueued_at = enqueued_at or _from_ns(call.enqueued_at_ns)
        updated_at, max_attempts = enqueued_at, None
        if call.not_before_ns > time.time_ns():
            state, due = CallState.SCHEDULED, _from_ns(call.not_before_ns)
    else:
        updated_at, max_attempts = now(), call.max_attempts
    return CallRecord(
        call_id=call.call_id,
        function=call.function,
        namespace=call.namespace,
        queue=call.queue,
        state=state,
        max_attempts=max_attempts,
        next_attempt_at=due,
        enqueued_at=enqueued_at,
        updated_at=updated_at,
        batch_id=call.batch_id,
    )


def claim(current: CallRecord | None, call: QueuedCall, attempt: Attempt) -> CallRecord | None:
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
        attempt=attempt.number,
        max_attempts=attempt.limit,
        started_at=now(),
        next_attempt_at=None,
        trace_id=call.trace.trace_id if call.trace is not None else None,
    )


def cancel(current: CallRecord | None, reason: str = "cancelled by request") -> CallRecord | None:
    """The record of a cancelled call, or None if ``current`` has started or finished (nothing to cancel)."""
    if current is None or current.state not in NOT_STARTED:
        return None
    stamp = now()
    return current.to(CallState.CANCELLED, finished_at=stamp, next_attempt_at=None, reason=reason)


def waiting(current: CallRecord | None, call: QueuedCall, state: CallState) -> CallRecord | None:
    """The record of ``call`` held back in ``state`` (one of :data:`WAITING`), or None if it is over or already so.

    A run answered 429 goes back from ``running`` to waiting; a call cancelled or finished stays as it is.
    """
    if current is not None and current.state in TERMINAL:
        if current.enqueued_at == _from_ns(call.enqueued_at_ns):
            return None
        current = None
    if current is not None and current.state is state:
        return None
    return (current or queued_record(call)).to(state, next_attempt_at=None)
