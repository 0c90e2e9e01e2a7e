"""Batches: one record per batch of calls, one character per item, and the rules of how it moves.

Item ``i`` of a batch is the call ``<batch-id>-<i>``. An item's character only ever moves
forward to a final state and never leaves it, so recording the same item twice changes
nothing: the counts are exact by construction (see docs/batches.md). :mod:`calls.batch_store`
reads and writes the records.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from calls.status import TERMINAL, CallState, now

__all__ = [
    "CODES",
    "BatchRecord",
    "apply_marks",
    "finished_state",
    "item_call_id",
    "item_index",
    "new_batch",
    "stamp_callback",
]

CODES: dict[CallState, str] = {
    CallState.QUEUED: ".",
    CallState.RUNNING: "r",
    CallState.RETRYING: "t",
    CallState.SUCCEEDED: "s",
    CallState.FAILED: "f",
    CallState.DEAD: "d",
    CallState.CANCELLED: "c",
}
"""The character that stands for each state in :attr:`BatchRecord.states`."""
STATES = {code: state for state, code in CODES.items()}
_FINAL_CODES = frozenset(CODES[state] for state in TERMINAL)


def item_call_id(batch_id: str, index: int) -> str:
    """The call id of item ``index`` (from 0) of a batch."""
    return f"{batch_id}-{index}"


def item_index(batch_id: str, call_id: str) -> int | None:
    """The index of ``call_id`` in batch ``batch_id``, or None if it is not one of its items."""
    prefix, _, index = call_id.rpartition("-")
    return int(index) if prefix == batch_id and index.isdigit() else None


class BatchRecord(BaseModel):
    """One batch: what it runs and where each of its items is.

    Attributes:
        batch_id: the batch's id.
        function: the function every item calls.
        namespace: the function's namespace.
        total: how many items the batch has.
        states: one character per item, in input order (see :data:`CODES`).
        created_at: when the gateway accepted the batch.
        started_at: when a worker first started one of its items.
        finished_at: when the last item reached a final state.
        updated_at: when this record was written.
        callback_url: where the completion summary goes (``X-Batch-Callback-Url``).
        completed_by: the call id whose final state completed the batch (its worker sends the callback).
        callback_sent_at: when the completion callback was delivered (or given up on).
        callback_error: why it could not be delivered, if it could not.
    """

    model_config = ConfigDict(frozen=True)

    batch_id: str
    function: str
    namespace: str
    total: int
    states: str
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    updated_at: datetime | None = None
    callback_url: str | None = None
    completed_by: str | None = None
    callback_sent_at: datetime | None = None
    callback_error: str | None = None

    def counts(self) -> dict[str, int]:
        """How many items are in each state, every state named (zeros included)."""
        return {state.value: self.states.count(code) for state, code in CODES.items()}

    def indices(self, state: CallState) -> list[int]:
        """The indices of the items in ``state``, in input order."""
        code = CODES[state]
        return [index for index, seen in enumerate(self.states) if seen == code]

    @property
    def done(self) -> int:
        """How many items have reached a final state."""
        return sum(self.states.count(code) for code in _FINAL_CODES)

    def view(self) -> dict[str, Any]:
        """The record as ``GET /async-batches/<batch-id>`` shows it: counts, not the state string."""
        body = self.model_dump(mode="json", exclude_none=True, exclude={"states"})
        duration = (self.finished_at - self.created_at).total_seconds() if self.finished_at else None
        return body | {
            "counts": self.counts(),
            "done": self.done,
            "progress": round(self.done / self.total, 4) if self.total else 1.0,
            **({"duration": round(duration, 3)} if duration is not None else {}),
        }

    def summary(self, failed_limit: int = 1000) -> dict[str, Any]:
        """The completion callback's body: the view, and the call ids of failed and dead items (up to a limit)."""
        failed = [i for i, code in enumerate(self.states) if code in "fd"]
        body = self.view() | {"failed": [item_call_id(self.batch_id, i) for i in failed[:failed_limit]]}
        if len(failed) > failed_limit:
            body["failed_truncated"] = True
        return body


def new_batch(
    batch_id: str, function: str, namespace: str, total: int, created_at: datetime, callback_url: str | None
) -> BatchRecord:
    """The record of a batch just accepted: every item queued."""
    return BatchRecord(
        batch_id=batch_id,
        function=function,
        namespace=namespace,
        total=total,
        states=CODES[CallState.QUEUED] * total,
        created_at=created_at,
        updated_at=created_at,
        callback_url=callback_url,
    )


def apply_marks(record: BatchRecord, marks: Mapping[int, CallState]) -> BatchRecord | None:
    """``record`` with the items of ``marks`` moved to their states, or None if nothing changes.

    An item in a final state keeps it: a later mark of the same item (a redelivery, a
    stale ``running``) changes nothing. The write that leaves no item unfinished stamps
    ``finished_at`` and names the lowest newly finished item as ``completed_by``.
    """
    states = bytearray(record.states, "ascii")
    finished: list[int] = []
    for index, state in marks.items():
        if not 0 <= index < record.total or chr(states[index]) in _FINAL_CODES:
            continue
        code = CODES[state]
        if chr(states[index]) != code:
            states[index] = ord(code)
            if code in _FINAL_CODES:
                finished.append(index)
    text = states.decode("ascii")
    if text == record.states:
        return None
    stamp = now()
    changes: dict[str, object] = {"states": text, "updated_at": stamp}
    if record.started_at is None and any(STATES[code] is not CallState.QUEUED for code in text):
        changes["started_at"] = stamp
    if finished and record.finished_at is None and all(code in _FINAL_CODES for code in text):
        changes |= {"finished_at": stamp, "completed_by": item_call_id(record.batch_id, min(finished))}
    return record.model_copy(update=changes)


def finished_state(record: BatchRecord) -> str:
    """How a finished batch ended: ``failed`` (an item failed or is dead), ``cancelled`` (one was), or ``succeeded``."""
    if any(code in record.states for code in (CODES[CallState.FAILED], CODES[CallState.DEAD])):
        return "failed"
    return "cancelled" if CODES[CallState.CANCELLED] in record.states else "succeeded"


def stamp_callback(record: BatchRecord, error: str | None) -> BatchRecord | None:
    """``record`` with its completion callback stamped as sent (or given up on with ``error``); None if it was."""
    if record.callback_sent_at is not None:
        return None
    return record.model_copy(update={"callback_sent_at": datetime.now(UTC), "callback_error": error})
