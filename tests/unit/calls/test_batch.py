"""The batch record's pure rules: items move forward to a final state and stay there; the last one completes it."""

from __future__ import annotations

from datetime import UTC, datetime

from calls.batch import (
    BatchRecord,
    apply_marks,
    finished_state,
    item_call_id,
    item_index,
    new_batch,
    stamp_callback,
)
from calls.status import CallState

CREATED = datetime(2026, 1, 1, tzinfo=UTC)


def batch(total: int = 3) -> BatchRecord:
    return new_batch("b-1", "fn", "ns", total, CREATED, "http://cb/")


def test_item_call_ids_carry_their_index() -> None:
    assert item_call_id("b-1", 7) == "b-1-7"
    assert (item_index("b-1", "b-1-7"), item_index("b-1", "b-2-7"), item_index("b-1", "b-1-x")) == (7, None, None)


def test_marks_move_items_and_stamp_the_start() -> None:
    moved = apply_marks(batch(), {0: CallState.RUNNING, 1: CallState.SUCCEEDED})
    assert moved is not None
    assert (moved.states, moved.done, moved.finished_at) == ("rs.", 1, None)
    assert moved.started_at is not None
    assert moved.counts() == {
        "queued": 1, "running": 1, "retrying": 0, "succeeded": 1, "failed": 0, "dead": 0, "cancelled": 0,
    }  # fmt: skip


def test_a_final_state_is_never_left_so_a_repeated_mark_changes_nothing() -> None:
    done = apply_marks(batch(), {1: CallState.FAILED})
    assert done is not None
    assert apply_marks(done, {1: CallState.FAILED}) is None
    assert apply_marks(done, {1: CallState.RUNNING, 9: CallState.SUCCEEDED, -1: CallState.FAILED}) is None


def test_the_write_that_finishes_the_last_item_completes_the_batch_once() -> None:
    record = apply_marks(batch(), {0: CallState.SUCCEEDED, 2: CallState.RETRYING})
    assert record is not None
    assert record.finished_at is None
    record = apply_marks(record, {2: CallState.DEAD, 1: CallState.CANCELLED})
    assert record is not None
    assert (record.finished_at is not None, record.completed_by) == (True, "b-1-1")
    view = record.view()
    assert (view["progress"], view["done"], "states" in view, view["duration"] >= 0) == (1.0, 3, False, True)
    assert record.summary()["failed"] == ["b-1-2"]
    assert record.summary(failed_limit=0)["failed_truncated"] is True
    stamped = stamp_callback(record, None)
    assert stamped is not None
    assert stamped.callback_sent_at is not None
    assert stamp_callback(stamped, "late") is None
    assert record.indices(CallState.DEAD) == [2]


def test_a_finished_batch_is_failed_if_any_item_failed_else_cancelled_if_any_was() -> None:
    def finished(states: str) -> str:
        return finished_state(batch(len(states)).model_copy(update={"states": states}))

    assert finished("sss") == "succeeded"
    assert finished("scs") == "cancelled"
    assert finished("scf") == "failed"
    assert finished("sds") == "failed"
