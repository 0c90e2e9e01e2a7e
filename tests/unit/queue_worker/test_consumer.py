from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, cast

import nats.errors

from calls.outcome import Attempt, Outcome
from calls.wire import QueuedCall
from queue_worker.config import WorkerSettings
from queue_worker.consumer import Consumer


class FakeSubscription:
    """Takes that find nothing, then fail as a lost connection does, then stop the consumer."""

    def __init__(self) -> None:
        self.fetches: list[int] = []
        self.consumer: Consumer | None = None

    def held(self) -> list[Any]:
        return []

    async def close(self) -> list[Any]:
        return []

    async def take(self, wanted: int) -> list[Any]:
        self.fetches.append(wanted)
        if len(self.fetches) == 1:
            return []
        failures: list[Exception] = [nats.errors.ConnectionClosedError(), nats.errors.ConnectionReconnectingError()]
        if len(self.fetches) <= len(failures) + 1:
            raise failures[len(self.fetches) - 2]
        assert self.consumer is not None
        self.consumer.stop()
        return []


class Unused:
    async def invoke(self, call: QueuedCall, attempt: Attempt) -> Outcome:
        raise AssertionError("no call was fetched")

    async def send(self, call: QueuedCall, outcome: Outcome, attempt: Attempt) -> str | None:
        raise AssertionError("no call was fetched")


async def test_empty_takes_and_connection_errors_mean_poll_again_until_stopped() -> None:
    sub = FakeSubscription()
    settings = WorkerSettings(max_inflight=8, fetch_batch=5, faas_reconnect_delay=timedelta(milliseconds=10))
    consumer = Consumer(cast(Any, sub), settings, Unused(), Unused())
    sub.consumer = consumer
    summary = await asyncio.wait_for(consumer.run(grace=1), 5)
    assert sub.fetches == [5, 5, 5, 5]
    assert (summary.done, summary.cancelled, consumer.inflight) == (0, 0, 0)
