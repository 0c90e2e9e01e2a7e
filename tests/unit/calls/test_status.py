"""The call status model: which transitions a claim and a cancel allow, keys, kept results, JSON."""

import json

import pytest

from calls.outcome import Attempt
from calls.status import CallRecord, CallResult, CallState, cancel, claim, queued_record
from calls.status_store import call_key
from calls.wire import QueuedCall

CALL = QueuedCall(
    call_id="c-1", function="echo", namespace="fn", queue="slow", enqueued_at_ns=1_700_000_000_500_000_000
)


def record(state: CallState, attempt: int = 0) -> CallRecord:
    return queued_record(CALL).to(state, attempt=attempt)


def test_a_queued_record_comes_from_the_call() -> None:
    queued = queued_record(CALL)
    assert (queued.call_id, queued.function, queued.namespace, queued.queue, queued.state) == (
        "c-1", "echo", "fn", "slow", CallState.QUEUED,
    )  # fmt: skip
    assert queued.enqueued_at is not None
    assert queued.enqueued_at.isoformat() == "2023-11-14T22:13:20.500000+00:00"
    assert queued_record(QueuedCall(call_id="x", function="f", namespace="n")).enqueued_at is None


@pytest.mark.parametrize("state", [None, CallState.QUEUED, CallState.RETRYING, CallState.RUNNING])
def test_a_call_not_finished_is_claimed(state: CallState | None) -> None:
    current = None if state is None else record(state, attempt=1)
    claimed = claim(current, CALL, Attempt(2, 5))
    assert claimed is not None
    assert (claimed.state, claimed.attempt, claimed.max_attempts) == (CallState.RUNNING, 2, 5)
    assert claimed.started_at is not None
    assert claimed.next_attempt_at is None


@pytest.mark.parametrize("state", [CallState.CANCELLED, CallState.SUCCEEDED, CallState.FAILED, CallState.DEAD])
def test_a_cancelled_or_finished_call_is_not_claimed(state: CallState) -> None:
    assert claim(record(state), CALL, Attempt(1, 3)) is None


def test_a_later_enqueue_with_the_same_call_id_runs_again() -> None:
    resent = QueuedCall(call_id="c-1", function="echo", namespace="fn", enqueued_at_ns=CALL.enqueued_at_ns + 1000)
    claimed = claim(record(CallState.SUCCEEDED, attempt=3), resent, Attempt(1, 3))
    assert claimed is not None
    assert (claimed.state, claimed.attempt, claimed.enqueued_at) == (
        CallState.RUNNING, 1, queued_record(resent).enqueued_at,
    )  # fmt: skip


def test_a_claim_records_the_runs_the_call_is_allowed() -> None:
    claimed = claim(queued_record(CALL).model_copy(update={"max_attempts": 3}), CALL, Attempt(1, 5))
    assert claimed is not None
    assert (claimed.attempt, claimed.max_attempts) == (1, 5)


@pytest.mark.parametrize("state", [CallState.QUEUED, CallState.RETRYING])
def test_a_call_not_started_is_cancelled(state: CallState) -> None:
    cancelled = cancel(record(state))
    assert cancelled is not None
    assert (cancelled.state, cancelled.reason) == (CallState.CANCELLED, "cancelled by request")
    assert cancelled.finished_at is not None


@pytest.mark.parametrize(
    "state", [CallState.RUNNING, CallState.SUCCEEDED, CallState.FAILED, CallState.DEAD, CallState.CANCELLED]
)
def test_a_started_or_finished_call_is_not_cancelled(state: CallState) -> None:
    assert cancel(record(state)) is None
    assert cancel(None) is None


def test_keys_are_distinct_and_valid() -> None:
    ids = ["0f8fad5b-d9cb-469f-a165-70867728950e", "a.b", "a:b", "a..b:", "a_b"]
    keys = [call_key(call_id) for call_id in ids]
    assert keys == ["0f8fad5b-d9cb-469f-a165-70867728950e", "a/b", "a=b", "a//b=", "a_b"]
    assert len(set(keys)) == len(ids)


def test_a_result_is_kept_as_text_or_base64_under_its_limit() -> None:
    assert CallResult.of(b"hello", "text/plain", 3) == CallResult(
        content_type="text/plain", encoding="text", body="hel", size=5, truncated=True
    )
    binary = CallResult.of(b"\xff\x00", None, 10)
    assert (binary.encoding, binary.body, binary.truncated) == ("base64", "/wA=", False)


def test_the_json_has_rfc3339_timestamps_and_no_empty_fields() -> None:
    data = json.loads(queued_record(CALL).model_dump_json(exclude_none=True))
    assert data == {
        "call_id": "c-1",
        "function": "echo",
        "namespace": "fn",
        "queue": "slow",
        "state": "queued",
        "attempt": 0,
        "enqueued_at": "2023-11-14T22:13:20.500000Z",
        "updated_at": "2023-11-14T22:13:20.500000Z",
    }
