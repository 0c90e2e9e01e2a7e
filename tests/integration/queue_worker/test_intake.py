"""The intake on a real JetStream: high-priority calls are taken first, low ones are not starved, none waits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from calls.flow import Priority
from calls.wire import QueuedCall
from faasq.natsserver import NatsServer
from queue_worker.intake import Intake, subscribe
from tests.support.worker import publish, worker_settings

pytestmark = pytest.mark.integration


@pytest.fixture
async def nc(nats_server: NatsServer) -> AsyncIterator[Client]:
    client = await nats.connect(nats_server.url)
    yield client
    await client.close()


async def _intake(nc: Client, nats_server: NatsServer, stream: str) -> Intake:
    return await subscribe(nc, worker_settings(nats_server, stream, "http://127.0.0.1:9"))


async def _publish(js: JetStreamContext, stream: str, priority: Priority, count: int) -> None:
    for n in range(count):
        await publish(js, stream, QueuedCall(f"{priority.value}-{n}", "fn", "ns", priority=priority))


def _ids(msgs: list[Msg]) -> list[str]:
    return [QueuedCall.from_message(m.headers, m.data).call_id for m in msgs]


async def test_calls_are_taken_high_first_then_normal_then_low_in_order(
    nats_server: NatsServer, nc: Client, js: JetStreamContext, unique_stream: str
) -> None:
    intake = await _intake(nc, nats_server, unique_stream)
    await _publish(js, unique_stream, Priority.LOW, 3)
    await _publish(js, unique_stream, Priority.NORMAL, 3)
    await _publish(js, unique_stream, Priority.HIGH, 3)
    taken = await intake.take(5)
    assert _ids(taken) == ["high-0", "high-1", "high-2", "normal-0", "normal-1"]
    rest = await intake.take(10)
    # 5 calls taken over lower ones owe low half a call: not yet a whole one, so normal still goes first.
    assert _ids(rest) == ["normal-2", "low-0", "low-1", "low-2"]
    for msg in taken + rest:
        await msg.ack()
    assert await intake.close() == []


async def test_low_calls_get_a_tenth_of_the_turns_however_many_high_ones_wait(
    nats_server: NatsServer, nc: Client, js: JetStreamContext, unique_stream: str
) -> None:
    intake = await _intake(nc, nats_server, unique_stream)
    await _publish(js, unique_stream, Priority.LOW, 5)
    await _publish(js, unique_stream, Priority.HIGH, 60)
    order: list[str] = []
    while len(order) < 40:
        msgs = await intake.take(4)
        order += _ids(msgs)
        for msg in msgs:
            await msg.ack()
    lows = [at for at, call_id in enumerate(order) if call_id.startswith("low")]
    assert len(lows) == 3, order  # one per ten high ones taken
    assert lows[0] < 15, order
    await intake.close()


async def test_an_idle_intake_takes_a_call_of_any_priority_as_soon_as_it_is_published(
    nats_server: NatsServer, nc: Client, js: JetStreamContext, unique_stream: str
) -> None:
    intake = await _intake(nc, nats_server, unique_stream)
    assert await intake.take(4) == []  # waited a whole poll for nothing
    for priority in (Priority.LOW, Priority.HIGH, Priority.NORMAL):
        taking = asyncio.create_task(intake.take(4))
        await asyncio.sleep(0.05)  # let it wait on the server: the point is that it is waiting
        began = time.monotonic()
        await _publish(js, unique_stream, priority, 1)
        msgs = await taking
        took = time.monotonic() - began
        assert (_ids(msgs), took < 0.4) == ([f"{priority.value}-0"], True)  # well within a poll (0.5 s)
        await msgs[0].ack()
    await intake.close()


async def test_a_call_a_waiting_request_brings_while_the_worker_is_busy_is_held_then_handed_back_at_close(
    nats_server: NatsServer, nc: Client, js: JetStreamContext, unique_stream: str
) -> None:
    intake = await _intake(nc, nats_server, unique_stream)
    await _publish(js, unique_stream, Priority.NORMAL, 1)
    first = await intake.take(1)  # normal found; high and low empty: each has a waiting request out
    await _publish(js, unique_stream, Priority.HIGH, 1)
    left = await intake.close()
    assert (_ids(first), _ids(left)) == (["normal-0"], ["high-0"])
    await first[0].ack()
    await left[0].nak()
