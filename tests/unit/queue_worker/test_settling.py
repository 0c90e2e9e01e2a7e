"""The consumer carries out each verdict over fakes: ack, nak with the delay, dead-letter hook then term."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field, replace
from typing import Any, cast

import pytest

from calls.deadletters import Kind
from calls.outcome import Attempt, Outcome
from calls.retry_decision import Ack, DeadLetter, Retry, RetryPolicy, Verdict
from calls.retry_settings import RetryOverrides
from calls.wire import QueuedCall
from queue_worker.config import WorkerSettings
from queue_worker.consumer import Consumer, Summary
from queue_worker.hooks import WorkerHooks

CALL = QueuedCall("call-7", "fn", "ns", callback_url="http://127.0.0.1:9/cb", body=b"in")


@dataclass
class Metadata:
    num_delivered: int


@dataclass
class FakeMsg:
    """The parts of nats-py's ``Msg`` the consumer uses; records how it was settled."""

    headers: dict[str, str] | None
    data: bytes
    metadata: Metadata
    settled: list[tuple[str, float | None]] = field(default_factory=list)
    _ackd: bool = False

    async def ack(self) -> None:
        self._settle("ack")

    async def nak(self, delay: float | None = None) -> None:
        self._settle("nak", delay)

    async def term(self) -> None:
        self._settle("term")

    async def in_progress(self) -> None:
        self.settled.append(("in_progress", None))

    def _settle(self, how: str, delay: float | None = None) -> None:
        assert not self._ackd, "settled twice"
        self._ackd = True
        self.settled.append((how, delay))


class FakeSource:
    """A source that holds nothing back."""

    def held(self) -> list[Any]:
        return []

    async def close(self) -> list[Any]:
        return []


class OneBatch(FakeSource):
    """Hands out ``msgs`` once, then stops the consumer once they are settled."""

    def __init__(self, msgs: list[FakeMsg]) -> None:
        self.msgs = msgs
        self.consumer: Consumer | None = None

    async def take(self, wanted: int) -> list[Any]:
        msgs, self.msgs = self.msgs, []
        if msgs:
            return msgs
        assert self.consumer is not None
        if self.consumer.inflight == 0:
            self.consumer.stop()
        await asyncio.sleep(0.001)
        return []


@dataclass
class Fakes(WorkerHooks):
    """Invoker, callback sender and hooks in one, recording every call."""

    outcome: Outcome
    invoked: list[str] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    called_back: list[tuple[str, int]] = field(default_factory=list)
    events: list[tuple[str, Any]] = field(default_factory=list)
    cancelled: bool = False
    callback_failure: str | None = None
    kinds: list[Kind | None] = field(default_factory=list)

    async def invoke(self, call: QueuedCall, attempt: Attempt) -> Outcome:
        self.invoked.append(call.call_id)
        self.attempts.append(attempt)
        return self.outcome

    async def send(self, call: QueuedCall, outcome: Outcome, attempt: Attempt) -> str | None:
        self.called_back.append((call.call_id, outcome.reported_status))
        self.attempts.append(attempt)
        return self.callback_failure

    async def call_started(self, call: QueuedCall, attempt: Attempt) -> bool:
        self.events.append(("started", attempt.number))
        return not self.cancelled

    async def callback_failed(self, call: QueuedCall, attempt: Attempt, outcome: Outcome, reason: str) -> None:
        self.events.append(("callback_failed", reason))

    async def call_finished(self, call: QueuedCall, attempt: Attempt, outcome: Outcome, verdict: Verdict) -> None:
        self.events.append(("finished", verdict))

    async def dead_letter(
        self, call: QueuedCall, attempt: Attempt, outcome: Outcome, reason: str, kind: Kind | None = None
    ) -> None:
        self.events.append(("dead_letter", reason))
        self.kinds.append(kind)


async def consume(msg: FakeMsg | list[FakeMsg], fakes: Fakes, settings: WorkerSettings | None = None) -> Summary:
    sub = OneBatch(msg if isinstance(msg, list) else [msg])
    policy = RetryPolicy(max_attempts=3, min_wait=10, max_wait=60)
    consumer = Consumer(cast(Any, sub), settings or WorkerSettings(), fakes, fakes, policy, fakes, rand=lambda: 0.5)
    sub.consumer = consumer
    return await asyncio.wait_for(consumer.run(grace=1), 5)


@pytest.mark.parametrize(
    ("status", "attempt", "settled", "callbacks", "events"),
    [
        (200, 1, [("ack", None)], [("call-7", 200)], [("started", 1), ("finished", Ack())]),
        (404, 2, [("ack", None)], [("call-7", 404)], [("started", 2), ("finished", Ack())]),
        (503, 1, [("nak", 15.0)], [], [("started", 1), ("finished", Retry(15.0))]),  # jitter: 10 to 20
        (502, 2, [("nak", 25.0)], [], [("started", 2), ("finished", Retry(25.0))]),  # 10 to 40
        (
            503,
            3,
            [("term", None)],
            [("call-7", 503)],
            [
                ("started", 3),
                ("finished", DeadLetter("HTTP 503 after 3 attempts")),
                ("dead_letter", "HTTP 503 after 3 attempts"),
            ],
        ),
    ],
)
async def test_each_verdict_is_carried_out(
    status: int, attempt: int, settled: list[Any], callbacks: list[Any], events: list[Any]
) -> None:
    msg = FakeMsg(CALL.nats_headers(), CALL.body, Metadata(attempt))
    fakes = Fakes(Outcome(status, body=b"out"))
    summary = await consume(msg, fakes)
    assert (msg.settled, fakes.called_back, fakes.events, fakes.invoked) == (settled, callbacks, events, ["call-7"])
    # The function's request, and the callback if any, know which run it was.
    assert fakes.attempts == [Attempt(attempt, 3)] * (1 + len(callbacks))
    assert (summary.done, summary.retried, summary.dead_lettered) == (
        int(settled[0][0] == "ack"),
        int(settled[0][0] == "nak"),
        int(settled[0][0] == "term"),
    )


async def test_a_call_past_its_max_event_age_is_dead_lettered_without_running_and_called_back_with_410() -> None:
    stale = replace(CALL, enqueued_at_ns=time.time_ns() - 10**10, retry=RetryOverrides(max_event_age=5.0))
    msg = FakeMsg(stale.nats_headers(), stale.body, Metadata(2))
    fakes = Fakes(Outcome(200))
    summary = await consume(msg, fakes)
    reason = "older than max event age 5s"
    assert (msg.settled, fakes.invoked, fakes.called_back) == ([("term", None)], [], [("call-7", 410)])
    assert fakes.events == [("started", 2), ("finished", DeadLetter(reason)), ("dead_letter", reason)]
    assert (fakes.attempts, summary.dead_lettered) == ([Attempt(2, 3)], 1)


async def test_a_failure_past_its_functions_retry_budget_is_dead_lettered_not_retried() -> None:
    # Every fifth first attempt earns one retry (20%): the 5th and the 10th failure are retried, no other.
    firsts = [replace(CALL, call_id=f"call-{n}") for n in range(10)]
    msgs = [FakeMsg(call.nats_headers(), call.body, Metadata(1)) for call in firsts]
    fakes = Fakes(Outcome(503))
    summary = await consume(msgs, fakes, WorkerSettings(retry_budget_min=0))
    assert [m.settled[0][0] for m in msgs] == ["term"] * 4 + ["nak"] + ["term"] * 4 + ["nak"]
    assert (summary.retried, summary.dead_lettered) == (2, 8)
    assert fakes.kinds == [Kind.RETRY_BUDGET] * 8
    reasons = [event[1] for event in fakes.events if event[0] == "dead_letter"]
    assert reasons[-1] == (
        "HTTP 503 on attempt 1; not retried: the retry budget of fn is spent (1 retries in the last 60s, "
        "for 9 first attempts: at most 20% of them, or 0)"
    )
    assert ("call-0", 503) in fakes.called_back  # its callback says how it ended


async def test_a_retry_budget_of_0_is_no_budget() -> None:
    msgs = [FakeMsg(replace(CALL, call_id=f"c{n}").nats_headers(), b"", Metadata(1)) for n in range(5)]
    summary = await consume(msgs, Fakes(Outcome(503)), WorkerSettings(retry_budget=0, retry_budget_min=0))
    assert (summary.retried, summary.dead_lettered) == (5, 0)


async def test_a_malformed_message_is_terminated_without_running_anything() -> None:
    msg = FakeMsg({"Faasq-Function": "fn"}, b"x", Metadata(1))
    fakes = Fakes(Outcome(200))
    summary = await consume(msg, fakes)
    assert (msg.settled, fakes.invoked, fakes.events, summary.malformed) == ([("term", None)], [], [], 1)


class FailingAfterOneBatch(FakeSource):
    """Hands out ``msg``, then fails the way a bug would, while the call still runs."""

    def __init__(self, msg: FakeMsg, running: asyncio.Event) -> None:
        self.msg: FakeMsg | None = msg
        self.running = running

    async def take(self, wanted: int) -> list[Any]:
        if self.msg is not None:
            msg, self.msg = self.msg, None
            return [msg]
        await self.running.wait()
        raise RuntimeError("the fetch loop broke")


@dataclass
class Hanging(Fakes):
    running: asyncio.Event = field(default_factory=asyncio.Event)
    stopped: list[str] = field(default_factory=list)

    async def invoke(self, call: QueuedCall, attempt: Attempt) -> Outcome:
        self.running.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.stopped.append(call.call_id)
            raise
        raise AssertionError("unreachable")


async def test_a_broken_fetch_loop_cancels_and_naks_running_calls_before_it_returns() -> None:
    msg = FakeMsg(CALL.nats_headers(), CALL.body, Metadata(1))
    fakes = Hanging(Outcome(200))
    consumer = Consumer(
        cast(Any, FailingAfterOneBatch(msg, fakes.running)), WorkerSettings(), fakes, fakes, hooks=fakes
    )
    with pytest.raises(RuntimeError, match="the fetch loop broke"):
        await asyncio.wait_for(consumer.run(grace=1), 5)
    # Cancelled while the invoker and the callback sender were still open; handed back for redelivery.
    assert (fakes.stopped, msg.settled, fakes.called_back) == (["call-7"], [("nak", None)], [])
    assert (consumer.inflight, consumer.summary.cancelled) == (0, 1)


async def test_a_call_its_hooks_cancelled_is_acked_without_running_or_a_callback() -> None:
    msg = FakeMsg(CALL.nats_headers(), CALL.body, Metadata(1))
    fakes = Fakes(Outcome(200), cancelled=True)
    summary = await consume(msg, fakes)
    assert (msg.settled, fakes.invoked, fakes.called_back, fakes.events) == ([("ack", None)], [], [], [("started", 1)])
    assert (summary.skipped, summary.done) == (1, 0)


async def test_an_undelivered_callback_is_reported_to_the_hooks_before_the_call_is_settled() -> None:
    msg = FakeMsg(CALL.nats_headers(), CALL.body, Metadata(1))
    fakes = Fakes(Outcome(200), callback_failure="callback failed 4 times, last: HTTP 502")
    summary = await consume(msg, fakes)
    assert fakes.events == [
        ("started", 1),
        ("callback_failed", "callback failed 4 times, last: HTTP 502"),
        ("finished", Ack()),
    ]
    assert (msg.settled, summary.callbacks_failed) == ([("ack", None)], 1)
