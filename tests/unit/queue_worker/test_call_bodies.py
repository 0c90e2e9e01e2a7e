"""When the worker deletes a call's body from the body bucket: once nothing needs it any more."""

from __future__ import annotations

from typing import Any, cast

import pytest
from nats.js import JetStreamContext

from calls.bodies import Bodies
from calls.outcome import Attempt, Outcome
from calls.retry_decision import Ack, DeadLetter, Retry, Verdict
from calls.wire import QueuedCall
from queue_worker.bodies import CallBodies
from queue_worker.config import WorkerSettings

ATTEMPT, OUTCOME = Attempt(1, 3), Outcome(200)


class Bucket:
    """Records what is deleted."""

    def __init__(self) -> None:
        self.deleted: list[str] = []

    async def delete(self, name: str) -> None:
        self.deleted.append(name)


def hooks() -> tuple[CallBodies, Bucket]:
    bucket = Bucket()
    bodies = CallBodies(cast(JetStreamContext, None), WorkerSettings())
    bodies._bodies = cast(Bodies, cast(Any, bucket))  # as startup() opens it
    return bodies, bucket


def large(callback: str | None = None) -> QueuedCall:
    return QueuedCall("c1", "fn", "ns", callback_url=callback, enqueued_at_ns=7, body_object="c1")


@pytest.mark.parametrize(("verdict", "deleted"), [(Ack(), ["c1"]), (DeadLetter("no"), []), (Retry(1.0), [])])
async def test_a_call_without_a_callback_loses_its_body_once_finished(verdict: Verdict, deleted: list[str]) -> None:
    bodies, bucket = hooks()
    await bodies.call_finished(large(), ATTEMPT, OUTCOME, verdict)
    assert bucket.deleted == deleted


async def test_a_callback_delivered_before_the_ack_lets_the_body_go_after_the_record_is_written() -> None:
    bodies, bucket = hooks()
    call = large("http://h/cb")
    await bodies.callback_sent(call, ATTEMPT, delivered=True)
    assert bucket.deleted == []  # the status hooks write the record in call_finished, before this hook's turn
    await bodies.call_finished(call, ATTEMPT, OUTCOME, Ack())
    assert bucket.deleted == ["c1"]


async def test_a_callback_stored_to_be_tried_again_keeps_the_body_until_it_is_delivered() -> None:
    bodies, bucket = hooks()
    call = large("http://h/cb")
    await bodies.callback_sent(call, ATTEMPT, delivered=False)
    await bodies.call_finished(call, ATTEMPT, OUTCOME, Ack())
    assert bucket.deleted == []  # an undelivered callback's dead letter may need it for a redrive
    await bodies.callback_delivered(call, ATTEMPT)
    assert bucket.deleted == ["c1"]


async def test_a_call_whose_body_is_in_its_message_deletes_nothing() -> None:
    bodies, bucket = hooks()
    call = QueuedCall("c2", "fn", "ns", callback_url="http://h/cb", body=b"small")
    await bodies.callback_sent(call, ATTEMPT, delivered=True)
    await bodies.call_finished(call, ATTEMPT, OUTCOME, Ack())
    await bodies.callback_delivered(call, ATTEMPT)
    assert bucket.deleted == []
