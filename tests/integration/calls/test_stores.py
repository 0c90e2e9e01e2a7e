"""The call status store on a real JetStream key-value bucket: idempotent creation, revision-checked transitions."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from functools import partial

import nats
import pytest
from nats.aio.client import Client

from calls.batch_store import BatchStore
from calls.outcome import Attempt
from calls.status import CallRecord, CallState, cancel, claim, queued_record
from calls.status_store import CallStore, StatusConflict
from calls.wire import QueuedCall

pytestmark = pytest.mark.integration


@pytest.fixture
async def client(nats_url: str) -> AsyncIterator[Client]:
    client = await nats.connect(nats_url)
    yield client
    await client.close()


@pytest.fixture
def bucket() -> str:
    return f"calls-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def store(client: Client, bucket: str) -> AsyncIterator[CallStore]:
    yield await CallStore.open(client.jetstream(), bucket, ttl=timedelta(minutes=5))
    await client.jetstream().delete_key_value(bucket)


def a_call(call_id: str = "c.1:x") -> QueuedCall:
    return QueuedCall(call_id=call_id, function="echo", namespace="fn", enqueued_at_ns=1_700_000_000_000_000_000)


async def test_the_bucket_is_created_once_and_brought_to_its_ttl(client: Client, bucket: str) -> None:
    js = client.jetstream()
    first = await CallStore.open(js, bucket, ttl=timedelta(hours=1))
    await first.put(queued_record(a_call()))
    again = await CallStore.open(js, bucket, ttl=timedelta(hours=1))
    longer = await CallStore.open(js, bucket, ttl=timedelta(hours=2))
    info = await js.stream_info(f"KV_{bucket}")
    assert info.config.max_age == 7200
    assert info.config.max_msgs_per_subject == 1
    stored = await again.get("c.1:x")
    assert stored is not None
    assert stored.record.state == CallState.QUEUED
    assert await longer.get("c.1:x") == stored
    await js.delete_key_value(bucket)


async def test_put_get_create_update(store: CallStore) -> None:
    queued = queued_record(a_call())
    assert await store.get(queued.call_id) is None
    revision = await store.create(queued)
    assert revision is not None
    assert await store.create(queued) is None  # exists
    running = queued.to(CallState.RUNNING, attempt=1)
    assert await store.update(running, revision + 100) is None  # stale revision
    moved = await store.update(running, revision)
    assert moved is not None
    stored = await store.get(queued.call_id)
    assert stored is not None
    assert (stored.record, stored.revision) == (running, moved)
    done = await store.put(running.to(CallState.SUCCEEDED, status_code=200))
    assert done > moved


async def test_a_transition_decides_again_when_another_writer_got_in(store: CallStore) -> None:
    call = a_call()
    await store.put(queued_record(call))
    seen: list[CallState | None] = []

    async def interleave() -> None:
        stored = await store.get(call.call_id)
        assert stored is not None
        await store.put(stored.record.to(CallState.RUNNING, attempt=1))

    def cancel_after_a_race(current):  # the first decision is taken on a record that then moves
        seen.append(current.state if current else None)
        return cancel(current)

    current = await store.get(call.call_id)
    assert current is not None
    first = cancel(current.record)
    assert first is not None
    await interleave()
    assert await store.update(first, current.revision) is None  # the race the transition handles
    stored, changed = await store.transition(call.call_id, cancel_after_a_race)
    assert changed is False
    assert stored is not None
    assert stored.record.state == CallState.RUNNING
    assert seen == [CallState.RUNNING]


def _cancel_or_queued(queued: CallRecord, current: CallRecord | None) -> CallRecord | None:
    return cancel(current or queued)


async def test_cancel_and_start_never_both_win(store: CallStore) -> None:
    for n in range(20):
        call = a_call(f"race-{n}")
        if n % 2:
            await store.put(queued_record(call))  # retrying or queued with a record; else no record at all
        as_queued = queued_record(call)
        cancelled, started = await asyncio.gather(
            store.transition(call.call_id, partial(_cancel_or_queued, as_queued)),
            store.transition(call.call_id, partial(claim, call=call, attempt=Attempt(1, 3))),
        )
        assert [cancelled[1], started[1]].count(True) == 1
        stored = await store.get(call.call_id)
        assert stored is not None
        assert stored.record.state == (CallState.CANCELLED if cancelled[1] else CallState.RUNNING)


async def test_a_transition_gives_up_when_the_record_never_settles(store: CallStore) -> None:
    call = a_call()
    await store.put(queued_record(call))

    class Racing(CallStore):  # another writer gets in before every write of this one
        async def update(self, record, revision):
            await store.put(queued_record(call))
            return await super().update(record, revision)

    racing = Racing(store._kv)
    with pytest.raises(StatusConflict, match="kept changing"):
        await racing.transition(call.call_id, lambda current: current and current.to(CallState.RUNNING))


async def test_reset_to_queued_clears_the_runs(store: CallStore) -> None:
    call = a_call()
    assert await store.reset_to_queued(call.call_id) is None  # no record: its status is the queue's
    dead = queued_record(call).to(CallState.DEAD, attempt=3, max_attempts=3, reason="HTTP 500 after 3 attempts")
    await store.put(dead)
    reset = await store.reset_to_queued(call.call_id)
    assert reset is not None
    assert (reset.state, reset.attempt, reset.reason, reset.max_attempts) == (CallState.QUEUED, 0, None, 3)
    stored = await store.get(call.call_id)
    assert stored is not None
    assert stored.record == reset


async def test_the_batch_bucket_is_opened_the_same_way(client: Client, bucket: str) -> None:
    js = client.jetstream()
    await BatchStore.open(js, bucket, ttl=timedelta(hours=1))
    await BatchStore.open(js, bucket, ttl=timedelta(hours=3))
    info = await js.stream_info(f"KV_{bucket}")
    assert (info.config.max_age, info.config.max_msgs_per_subject) == (10800, 1)
    await js.delete_key_value(bucket)
