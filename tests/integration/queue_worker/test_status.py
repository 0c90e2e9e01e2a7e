"""The worker keeps each call's status record: claimed before a run, then finished, retrying or dead."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import pytest
from nats.js import JetStreamContext

from calls.outcome import Attempt, Failure, Outcome
from calls.retry_decision import Ack, DeadLetter, Retry
from calls.status import CallRecord, CallResult, CallState, cancel, queued_record
from calls.status_store import CallStore
from faasq.natsserver import NatsServer
from queue_worker.status import StatusHooks
from tests.support.polling import eventually
from tests.support.worker import Receiver, call, invocations, publish, running, worker_settings

pytestmark = pytest.mark.integration


@pytest.fixture
async def store(js: JetStreamContext, unique_stream: str) -> AsyncIterator[CallStore]:
    yield await CallStore.open(js, f"{unique_stream}-calls")
    await js.delete_key_value(f"{unique_stream}-calls")


def in_state(store: CallStore, call_id: str, state: CallState) -> Callable[[], Awaitable[CallRecord | None]]:
    async def check() -> CallRecord | None:
        stored = await store.get(call_id)
        return stored.record if stored is not None and stored.record.state == state else None

    return check


async def test_a_call_goes_from_running_to_succeeded_with_its_result(
    nats_server: NatsServer, unique_stream: str, js: JetStreamContext, provider_url: str, store: CallStore,
    receiver: tuple[Receiver, str],
) -> None:  # fmt: skip
    app, url = receiver
    settings = worker_settings(nats_server, unique_stream, provider_url, status_result_bytes=4)
    queued = call("ok", "slow", f"{url}/cb", b"hello", headers=[("X-Sleep", "0.5"), ("Content-Type", "text/plain")])
    async with running(settings):
        await publish(js, unique_stream, queued)
        started = await eventually(in_state(store, "ok", CallState.RUNNING))
        await app.wait_for({"ok"})
        done = await eventually(in_state(store, "ok", CallState.SUCCEEDED))
    assert (started.function, started.namespace, started.queue, started.attempt) == (
        "slow",
        "openfaas-fn",
        "default",
        1,
    )
    assert started.enqueued_at == queued_record(queued).enqueued_at
    assert started.started_at is not None
    assert (done.status_code, done.reason, done.attempt, done.started_at) == (200, None, 1, started.started_at)
    assert done.result == CallResult(content_type="text/plain", encoding="text", body="hell", size=5, truncated=True)
    assert done.finished_at is not None
    assert done.duration is not None
    assert 0.4 < done.duration < 10
    assert done.finished_at >= started.started_at + timedelta(seconds=0.4)


async def test_a_function_that_is_down_ends_dead_with_the_reason(
    nats_server: NatsServer, unique_stream: str, js: JetStreamContext, store: CallStore,
    receiver: tuple[Receiver, str],
) -> None:  # fmt: skip
    _, url = receiver
    with socket.socket() as down:
        down.bind(("127.0.0.1", 0))
        provider = f"http://127.0.0.1:{down.getsockname()[1]}"
        async with running(worker_settings(nats_server, unique_stream, provider, max_retry_attempts=1)):
            await publish(js, unique_stream, call("down", "cat", f"{url}/cb"))
            dead = await eventually(in_state(store, "down", CallState.DEAD))
    assert (dead.status_code, dead.attempt, dead.result) == (503, 1, None)
    assert dead.reason == "connection error after 1 attempt"


async def test_a_cancelled_call_is_acked_without_running(
    nats_server: NatsServer, unique_stream: str, js: JetStreamContext, provider_url: str, store: CallStore,
    receiver: tuple[Receiver, str],
) -> None:  # fmt: skip
    app, url = receiver
    cancelled, kept = call("cancelled", "cat", f"{url}/cb"), call("kept", "cat", f"{url}/cb")
    _, changed = await store.transition("cancelled", lambda current: cancel(current or queued_record(cancelled)))
    assert changed
    before = await invocations(provider_url, "cat")
    async with running(worker_settings(nats_server, unique_stream, provider_url)) as summaries:
        await publish(js, unique_stream, cancelled)
        await publish(js, unique_stream, kept)
        await app.wait_for({"kept"})
        await eventually(lambda: _empty(js, unique_stream))
    assert [c.headers["x-call-id"] for c in app.calls] == ["kept"]
    assert await invocations(provider_url, "cat") - before == 1
    assert (summaries[0].skipped, summaries[0].done) == (1, 1)
    stored = await store.get("cancelled")
    assert stored is not None
    assert stored.record.state == CallState.CANCELLED


async def test_a_record_left_running_by_a_dead_worker_does_not_block_the_rerun(
    nats_server: NatsServer, unique_stream: str, js: JetStreamContext, provider_url: str, store: CallStore,
    receiver: tuple[Receiver, str],
) -> None:  # fmt: skip
    app, url = receiver
    orphan, finished = call("orphan", "cat", f"{url}/cb", b"again"), call("finished", "cat", f"{url}/cb")
    await store.put(queued_record(orphan).to(CallState.RUNNING, attempt=1))
    await store.put(queued_record(finished).to(CallState.SUCCEEDED, attempt=1, status_code=200))
    async with running(worker_settings(nats_server, unique_stream, provider_url)) as summaries:
        await publish(js, unique_stream, finished)  # a redelivery of a call that finished: not run twice
        await publish(js, unique_stream, orphan)
        await app.wait_for({"orphan"})
        done = await eventually(in_state(store, "orphan", CallState.SUCCEEDED))
        await eventually(lambda: _empty(js, unique_stream))
    assert done.attempt == 1
    assert [c.headers["x-call-id"] for c in app.calls] == ["orphan"]
    assert summaries[0].skipped == 1


async def test_a_resend_after_the_call_finished_runs_again(
    nats_server: NatsServer, unique_stream: str, js: JetStreamContext, provider_url: str, store: CallStore,
    receiver: tuple[Receiver, str],
) -> None:  # fmt: skip
    app, url = receiver
    first = call("again", "cat", f"{url}/cb", b"one")
    await store.put(queued_record(first).to(CallState.SUCCEEDED, attempt=1, status_code=200))
    resent = call("again", "cat", f"{url}/cb", b"two")  # a later enqueue time
    async with running(worker_settings(nats_server, unique_stream, provider_url)):
        await publish(js, unique_stream, resent)
        (one,) = (await app.wait_for({"again"}))["again"]
        done = await eventually(in_state(store, "again", CallState.SUCCEEDED))
    assert one.body == b"two"
    assert done.enqueued_at == queued_record(resent).enqueued_at


async def _empty(js: JetStreamContext, stream: str) -> bool | None:
    return True if (await js.stream_info(stream)).state.messages == 0 else None


async def test_retrying_then_dead_with_the_reason(js: JetStreamContext, unique_stream: str, store: CallStore) -> None:
    hooks = StatusHooks(js, bucket=f"{unique_stream}-calls", ttl=timedelta(hours=1))
    await hooks.startup()
    queued = call("flaky", "cat", None)
    failed = Outcome(status=503, duration=0.25)
    assert await hooks.call_started(queued, Attempt(1, 2))
    await hooks.call_finished(queued, Attempt(1, 2), failed, Retry(delay=30))
    retrying = await eventually(in_state(store, "flaky", CallState.RETRYING))
    assert (retrying.attempt, retrying.max_attempts, retrying.status_code, retrying.reason) == (1, 2, 503, "HTTP 503")
    assert retrying.next_attempt_at is not None
    assert retrying.updated_at is not None
    assert timedelta(seconds=29) < retrying.next_attempt_at - retrying.updated_at <= timedelta(seconds=30)
    assert await hooks.call_started(queued, Attempt(2, 2))
    timeout = Outcome(status=None, duration=1.5, failure=Failure.TIMEOUT, detail="after 1.5s")
    await hooks.call_finished(queued, Attempt(2, 2), timeout, DeadLetter("timeout after 2 attempts"))
    assert (await eventually(in_state(store, "flaky", CallState.RUNNING))).attempt == 2  # dead_letter writes it
    await hooks.dead_letter(queued, Attempt(2, 2), timeout, "timeout after 2 attempts")
    dead = await eventually(in_state(store, "flaky", CallState.DEAD))
    assert (dead.attempt, dead.status_code, dead.reason, dead.duration) == (2, 504, "timeout after 2 attempts", 1.5)
    assert not await hooks.call_started(queued, Attempt(3, 2))  # a leftover delivery of a dead call does not run


async def test_a_failed_callback_is_recorded_and_a_stale_run_never_overwrites_a_newer_one(
    js: JetStreamContext, unique_stream: str, store: CallStore
) -> None:
    hooks = StatusHooks(js, bucket=f"{unique_stream}-calls", ttl=timedelta(hours=1))
    await hooks.startup()
    queued = call("twice", "cat", "http://127.0.0.1:9/cb")
    assert await hooks.call_started(queued, Attempt(1, 3))
    ok = Outcome(status=404, duration=0.1)
    await hooks.callback_failed(queued, Attempt(1, 3), ok, "HTTP 500 from the callback URL")
    await hooks.call_finished(queued, Attempt(1, 3), ok, Ack())
    failed = await eventually(in_state(store, "twice", CallState.FAILED))
    assert (failed.status_code, failed.reason, failed.callback_error) == (
        404,
        "HTTP 404",
        "HTTP 500 from the callback URL",
    )
    # A run whose record another run took over in the meantime leaves that run's record alone.
    stale = StatusHooks(js, bucket=f"{unique_stream}-calls", ttl=timedelta(hours=1))
    await stale.startup()
    other = call("taken-over", "cat", None)
    assert await stale.call_started(other, Attempt(1, 3))
    assert await hooks.call_started(other, Attempt(2, 3))
    await stale.call_finished(other, Attempt(1, 3), Outcome(status=200), Ack())
    stored = await store.get("taken-over")
    assert stored is not None
    assert (stored.record.state, stored.record.attempt) == (CallState.RUNNING, 2)


async def test_a_callback_delivered_before_its_run_wrote_its_end_is_kept_in_the_record(
    js: JetStreamContext, unique_stream: str, store: CallStore
) -> None:
    # The run's first POST failed and its callback was stored for a retry; the callback sender
    # delivered that copy before the run wrote its end: the note and the end are both kept.
    hooks = StatusHooks(js, bucket=f"{unique_stream}-calls", ttl=timedelta(hours=1))
    await hooks.startup()
    queued, attempt, ok = call("early", "cat", "http://127.0.0.1:9/cb"), Attempt(1, 3), Outcome(status=200)
    assert await hooks.call_started(queued, attempt)
    await hooks.callback_delivered(queued, attempt)  # by the sender, from the stored copy
    await hooks.callback_sent(queued, attempt, delivered=False)  # the run: stored for a retry
    await hooks.call_finished(queued, attempt, ok, Ack())
    done = await eventually(in_state(store, "early", CallState.SUCCEEDED))
    assert (done.callback, done.status_code) == ("delivered", 200)
    # A call without a record (expired) gets none from a note.
    await hooks.callback_delivered(call("gone", "cat", "http://127.0.0.1:9/cb"), attempt)
    assert await store.get("gone") is None
