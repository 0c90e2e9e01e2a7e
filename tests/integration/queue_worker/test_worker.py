"""The worker against real NATS, a real provider running real functions, and a real callback receiver."""

from __future__ import annotations

import socket
import time

import pytest
from nats.js import JetStreamContext
from nats.js.errors import BucketNotFoundError, NotFoundError

from calls.status import CallState
from calls.status_store import CallStore
from faasq.natsserver import NatsServer
from tests.support.polling import eventually
from tests.support.worker import Receiver, call, invocations, publish, running, worker_settings

pytestmark = pytest.mark.integration


async def queue_empty(js: JetStreamContext, stream: str) -> bool | None:
    """True once the stream holds no call (work-queue retention deletes what was acked or terminated)."""
    return True if (await js.stream_info(stream)).state.messages == 0 else None


async def test_every_call_is_called_back_once_with_the_functions_body_and_headers(
    nats_server: NatsServer, unique_stream: str, js: JetStreamContext, provider_url: str,
    receiver: tuple[Receiver, str],
) -> None:  # fmt: skip
    app, url = receiver
    bodies = {f"call-{n}": f"body {n} ".encode() * (n + 1) for n in range(20)}
    types = {f"call-{n}": "text/plain" if n % 2 else "application/json" for n in range(20)}
    async with running(worker_settings(nats_server, unique_stream, provider_url)) as summaries:
        for call_id, body in bodies.items():
            headers = [("Content-Type", types[call_id])]
            await publish(js, unique_stream, call(call_id, "cat", f"{url}/cb/{call_id}", body, headers=headers))
        received = await app.wait_for(set(bodies))
        await eventually(lambda: queue_empty(js, unique_stream))
    assert len(app.calls) == 20
    for call_id, body in bodies.items():
        (one,) = received[call_id]
        assert (one.method, one.path, one.body) == ("POST", f"/cb/{call_id}", body)
        assert one.headers["x-function-name"] == "cat"
        assert one.headers["x-function-status"] == "200"
        assert one.headers["content-type"] == types[call_id]  # the classic watchdog echoes the request's type
        assert 0 < float(one.headers["x-duration-seconds"]) < 10
        assert one.headers["user-agent"].startswith("faasq-queue-worker/")
    assert (summaries[0].done, summaries[0].callbacks_failed, summaries[0].cancelled) == (20, 0, 0)


async def test_method_path_query_headers_and_body_reach_the_function(
    nats_server: NatsServer, unique_stream: str, js: JetStreamContext, provider_url: str,
    receiver: tuple[Receiver, str],
) -> None:  # fmt: skip
    app, url = receiver
    queued = call(
        "call-env", "env", f"{url}/cb", b"payload", method="PUT", path="/a/b", query="x=1&y=two",
        headers=[("X-Custom", "kept"), ("Connection", "close"), ("Host", "gateway.example")],
    )  # fmt: skip
    async with running(worker_settings(nats_server, unique_stream, provider_url)):
        await publish(js, unique_stream, queued)
        (one,) = (await app.wait_for({"call-env"}))["call-env"]
    lines = one.body.decode().splitlines()
    env = dict(line.split("=", 1) for line in lines)
    assert (env["Http_Method"], env["Http_Path"], env["Http_Query"]) == ("PUT", "/a/b", "x=1&y=two")
    assert (env["Http_X_Custom"], env["Http_X_Call_Id"]) == ("kept", "call-env")
    assert env["Http_X_Start_Time"] == str(queued.enqueued_at_ns)
    assert "Http_Connection" not in env
    assert env["body"] == "payload"


async def test_calls_run_concurrently_up_to_max_inflight(
    nats_server: NatsServer, unique_stream: str, js: JetStreamContext, provider_url: str,
    receiver: tuple[Receiver, str],
) -> None:  # fmt: skip
    app, url = receiver
    calls = 8
    settings = worker_settings(nats_server, unique_stream, provider_url, max_inflight=calls)
    async with running(settings):
        started = time.monotonic()
        for n in range(calls):
            await publish(js, unique_stream, call(f"slow-{n}", "slow", f"{url}/cb", b"z", headers=[("X-Sleep", "1")]))
        received = await app.wait_for({f"slow-{n}" for n in range(calls)}, within=15)
    last = max(calls[0].at for calls in received.values())
    # One after another they would take 8 s; together, about one call's time.
    assert 1.0 <= last - started < 3.0, last - started


async def test_a_call_longer_than_ack_wait_is_not_redelivered(
    nats_server: NatsServer, unique_stream: str, js: JetStreamContext, provider_url: str,
    receiver: tuple[Receiver, str],
) -> None:  # fmt: skip
    app, url = receiver
    before = await invocations(provider_url, "slow")
    settings = worker_settings(nats_server, unique_stream, provider_url, ack_wait="1s")
    async with running(settings) as summaries:
        await publish(js, unique_stream, call("long", "slow", f"{url}/cb", b"done", headers=[("X-Sleep", "2.5")]))
        (one,) = (await app.wait_for({"long"}, within=15))["long"]
        await eventually(lambda: queue_empty(js, unique_stream))
    info = await js.consumer_info(unique_stream, settings.durable)
    assert (one.body, info.num_redelivered, info.num_ack_pending) == (b"done", 0, 0)
    assert await invocations(provider_url, "slow") - before == 1
    assert (summaries[0].done, len(app.calls)) == (1, 1)


async def test_two_workers_share_the_queue_without_duplicates(
    nats_server: NatsServer, unique_stream: str, js: JetStreamContext, provider_url: str,
    receiver: tuple[Receiver, str],
) -> None:  # fmt: skip
    app, url = receiver
    settings = worker_settings(nats_server, unique_stream, provider_url, max_inflight=2, fetch_batch=2)
    ids = {f"shared-{n}" for n in range(40)}
    async with running(settings) as first, running(settings) as second:
        for call_id in sorted(ids):
            await publish(js, unique_stream, call(call_id, "cat", f"{url}/cb", call_id.encode()))
        received = await app.wait_for(ids, within=20)
        await eventually(lambda: queue_empty(js, unique_stream))
    assert {key: [c.body for c in calls] for key, calls in received.items()} == {i: [i.encode()] for i in ids}
    assert len(app.calls) == 40
    assert first[0].done + second[0].done == 40
    assert first[0].done > 0, (first[0].done, second[0].done)
    assert second[0].done > 0, (first[0].done, second[0].done)


async def test_a_function_that_stays_down_is_retried_then_reported_as_503_and_dead_lettered(
    nats_server: NatsServer, unique_stream: str, js: JetStreamContext, receiver: tuple[Receiver, str]
) -> None:
    app, url = receiver
    with socket.socket() as down:  # bound, never listening: connections are refused
        down.bind(("127.0.0.1", 0))
        provider = f"http://127.0.0.1:{down.getsockname()[1]}"
        settings = worker_settings(
            nats_server, unique_stream, provider, max_retry_attempts=2, initial_retry_wait="1ms", max_retry_wait="5ms"
        )
        async with running(settings) as summaries:
            await publish(js, unique_stream, call("down", "cat", f"{url}/cb", b"lost"))
            (one,) = (await app.wait_for({"down"}))["down"]
            await eventually(lambda: queue_empty(js, unique_stream))
    assert (one.headers["x-function-status"], one.body, one.headers["x-function-name"]) == ("503", b"", "cat")
    assert (one.headers["x-retry"], one.headers["x-retry-max"]) == ("2", "2")
    assert "content-type" not in one.headers
    assert (summaries[0].retried, summaries[0].dead_lettered, summaries[0].done) == (1, 1, 0)


async def test_a_failing_callback_is_retried_without_running_the_function_again(
    nats_server: NatsServer, unique_stream: str, js: JetStreamContext, provider_url: str,
    receiver: tuple[Receiver, str],
) -> None:  # fmt: skip
    app, url = receiver
    app.fail_first["/flaky"] = 2
    before = await invocations(provider_url, "cat")
    async with running(worker_settings(nats_server, unique_stream, provider_url)) as summaries:
        await publish(js, unique_stream, call("retried", "cat", f"{url}/flaky", b"third time"))
        (one,) = (await app.wait_for({"retried"}))["retried"]
        await eventually(lambda: queue_empty(js, unique_stream))
    assert (app.refused, one.body, one.headers["x-function-status"]) == (["/flaky", "/flaky"], b"third time", "200")
    assert await invocations(provider_url, "cat") - before == 1
    assert (summaries[0].done, summaries[0].callbacks_failed) == (1, 0)


async def _messages(js: JetStreamContext, stream: str, count: int) -> bool | None:
    return True if (await js.stream_info(stream)).state.messages == count else None


async def test_a_call_without_callback_url_is_run_and_acked(
    nats_server: NatsServer, unique_stream: str, js: JetStreamContext, provider_url: str
) -> None:
    before = await invocations(provider_url, "cat")
    async with running(worker_settings(nats_server, unique_stream, provider_url)) as summaries:
        await publish(js, unique_stream, call("quiet", "cat", None, b"nobody listens"))
        await eventually(lambda: queue_empty(js, unique_stream))
    assert await invocations(provider_url, "cat") - before == 1
    assert summaries[0].done == 1


async def test_a_malformed_message_is_terminated_not_retried(
    nats_server: NatsServer, unique_stream: str, js: JetStreamContext, provider_url: str,
    receiver: tuple[Receiver, str],
) -> None:  # fmt: skip
    app, url = receiver
    settings = worker_settings(nats_server, unique_stream, provider_url, ack_wait="1s")
    async with running(settings) as summaries:
        await js.publish(f"{unique_stream}.default", b"not a call", timeout=5)
        await js.publish(f"{unique_stream}.default", b"bad", headers={"Faasq-Function": "cat"}, timeout=5)
        await publish(js, unique_stream, call("after", "cat", f"{url}/cb", b"fine"))
        await app.wait_for({"after"})
        await eventually(lambda: queue_empty(js, unique_stream))
    info = await js.consumer_info(unique_stream, settings.durable)
    assert (info.num_pending, info.num_ack_pending, info.num_redelivered) == (0, 0, 0)
    assert (summaries[0].malformed, summaries[0].done, len(app.calls)) == (2, 1, 1)


async def test_a_second_queue_is_served_by_its_own_consumer(
    nats_server: NatsServer, unique_stream: str, js: JetStreamContext, provider_url: str,
    receiver: tuple[Receiver, str],
) -> None:  # fmt: skip
    app, url = receiver
    settings = worker_settings(nats_server, unique_stream, provider_url, queue="lane")
    async with running(settings):
        await publish(js, unique_stream, call("in-lane", "cat", f"{url}/cb", b"lane", queue="lane"))
        await publish(js, unique_stream, call("in-default", "cat", f"{url}/cb", b"default"))
        await app.wait_for({"in-lane"})
        await eventually(lambda: _messages(js, unique_stream, 1))  # the default queue's call waits
    assert [c.headers["x-call-id"] for c in app.calls] == ["in-lane"]
    assert (await js.stream_info(unique_stream)).state.messages == 1
    filters = (await js.consumer_info(unique_stream, "faas-lane")).config.filter_subjects
    assert filters == [f"{unique_stream}.lane", f"{unique_stream}.lane.>"]


async def test_shutdown_cancels_what_outlives_the_grace_and_it_is_redelivered(
    nats_server: NatsServer, unique_stream: str, js: JetStreamContext, provider_url: str,
    receiver: tuple[Receiver, str],
) -> None:  # fmt: skip
    app, url = receiver
    settings = worker_settings(nats_server, unique_stream, provider_url, shutdown_grace="0.2s")
    async with running(settings) as summaries:
        await publish(js, unique_stream, call("cut", "slow", f"{url}/cb", b"again", headers=[("X-Sleep", "1.5")]))
        # Claimed, so running: a call fetched but not yet started when the stop comes is handed back at once.
        await eventually(lambda: _claimed(js, f"{unique_stream}-calls", "cut"))
    assert (summaries[0].cancelled, app.calls) == (1, [])
    async with running(worker_settings(nats_server, unique_stream, provider_url)):
        (one,) = (await app.wait_for({"cut"}, within=15))["cut"]
    assert one.body == b"again"


async def _ack_pending(js: JetStreamContext, stream: str, durable: str) -> bool | None:
    try:
        info = await js.consumer_info(stream, durable)
    except NotFoundError:  # the worker has not created it yet
        return None
    return True if info.num_ack_pending == 1 else None


async def _claimed(js: JetStreamContext, bucket: str, call_id: str) -> bool | None:
    try:
        stored = await CallStore(await js.key_value(bucket)).get(call_id)
    except BucketNotFoundError:  # the worker has not created it yet
        return None
    return True if stored is not None and stored.record.state is CallState.RUNNING else None


async def test_the_worker_waits_for_a_slot_before_fetching_more(
    nats_server: NatsServer, unique_stream: str, js: JetStreamContext, provider_url: str,
    receiver: tuple[Receiver, str],
) -> None:  # fmt: skip
    app, url = receiver
    settings = worker_settings(nats_server, unique_stream, provider_url, max_inflight=1)
    async with running(settings):
        for n in range(3):
            await publish(js, unique_stream, call(f"one-{n}", "slow", f"{url}/cb", b"x", headers=[("X-Sleep", "0.6")]))
        await eventually(lambda: _ack_pending(js, unique_stream, settings.durable))
        info = await js.consumer_info(unique_stream, settings.durable)
        assert (info.num_ack_pending, info.num_pending) == (1, 2)  # one in flight, the rest still queued
        await app.wait_for({"one-0", "one-1", "one-2"})
    assert [c.headers["x-call-id"] for c in app.calls] == ["one-0", "one-1", "one-2"]


async def test_a_callback_that_keeps_failing_is_given_up_and_the_call_acked(
    nats_server: NatsServer, unique_stream: str, js: JetStreamContext, provider_url: str,
    receiver: tuple[Receiver, str],
) -> None:  # fmt: skip
    app, url = receiver
    app.fail_first["/down"] = 10
    before = await invocations(provider_url, "cat")
    settings = worker_settings(nats_server, unique_stream, provider_url, callback_attempts=3)
    async with running(settings) as summaries:
        await publish(js, unique_stream, call("unheard", "cat", f"{url}/down", b"x"))
        await eventually(lambda: queue_empty(js, unique_stream))
        await eventually(lambda: queue_empty(js, settings.callback_stream), within=20)
    assert (app.refused, app.calls) == (["/down"] * 3, [])
    assert await invocations(provider_url, "cat") - before == 1
    assert (summaries[0].done, summaries[0].callbacks_failed) == (1, 1)


async def test_the_worker_creates_a_missing_stream_and_leaves_an_existing_one_alone(
    nats_server: NatsServer, unique_stream: str, js: JetStreamContext, provider_url: str
) -> None:
    missing = f"{unique_stream}-new"
    async with running(worker_settings(nats_server, missing, provider_url)):
        await eventually(lambda: _consumer_exists(js, missing, "faas-default"))
    created = await js.stream_info(missing)
    assert (created.config.subjects, created.config.duplicate_window) == ([f"{missing}.>"], 120.0)
    await js.update_stream(created.config.evolve(duplicate_window=7.0))
    async with running(worker_settings(nats_server, missing, provider_url)):
        await eventually(lambda: _consumer_exists(js, missing, "faas-default"))
    assert (await js.stream_info(missing)).config.duplicate_window == 7.0
    await js.delete_stream(missing)


async def _consumer_exists(js: JetStreamContext, stream: str, durable: str) -> bool | None:
    try:
        await js.consumer_info(stream, durable)
    except NotFoundError:
        return None
    return True


async def test_a_slot_freed_behind_long_runs_takes_the_next_call_at_once(
    nats_server: NatsServer, unique_stream: str, js: JetStreamContext, provider_url: str,
    receiver: tuple[Receiver, str],
) -> None:  # fmt: skip
    # 15 of 16 slots busy for 8 s: one free slot is fewer than a busy worker pulls for at once
    # (an eighth of its slots), yet it must not stay idle until a long run ends.
    app, url = receiver
    settings = worker_settings(nats_server, unique_stream, provider_url, max_inflight=16, shutdown_grace="0s")
    store = await CallStore.open(js, settings.status_bucket)
    long_runs = [f"long-{n}" for n in range(15)]

    async def all_running() -> bool | None:
        records = [await store.get(call_id) for call_id in long_runs]
        running = [r for r in records if r is not None and r.record.state is CallState.RUNNING]
        return True if len(running) == len(long_runs) else None

    async with running(settings):
        for call_id in long_runs:
            await publish(js, unique_stream, call(call_id, "slow", f"{url}/cb", headers=[("X-Sleep", "8")]))
        await eventually(all_running, within=10)
        sent = time.monotonic()
        await publish(js, unique_stream, call("quick", "cat", f"{url}/cb", b"now"))
        received = await app.wait_for({"quick"}, within=6)
    assert received["quick"][0].at - sent < 4  # not after a long run ends (8 s)
