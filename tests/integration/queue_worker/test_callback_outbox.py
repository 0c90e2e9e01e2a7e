"""Callbacks: a run is settled once its callback is delivered or stored; one held by a worker that died falls due."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable

import nats
import pytest
from nats.js import JetStreamContext
from starlette.types import Receive, Scope, Send

from calls.bodies import Bodies
from calls.outcome import Attempt, Failure, Outcome
from calls.status import CallState
from calls.status_store import CallStore
from calls.streams import ensure_callback_stream
from faasq.natsserver import NatsServer
from plumbing.nats_client import header_block
from queue_worker.outbox import Outbox, PendingCallback
from tests.support.asgi import request_body
from tests.support.polling import eventually
from tests.support.worker import Receiver, call, publish, running, serving, worker_settings

pytestmark = pytest.mark.integration


def test_a_pending_callback_keeps_the_call_the_outcome_and_the_tries() -> None:
    outcome = Outcome(None, [("X-A", "1")], b"answer", 1.5, Failure.TIMEOUT, "took\r\ntoo long")
    pending = PendingCallback(call("c1", "cat", "http://h/cb", b"request"), outcome, Attempt(2, 3), tries=4)
    assert PendingCallback.decode(*pending.message()) == pending


async def test_a_callback_held_by_a_worker_that_died_falls_due_and_another_worker_delivers_it(
    nats_server: NatsServer, unique_stream: str, provider_url: str, receiver: tuple[Receiver, str]
) -> None:
    app, url = receiver
    settings = worker_settings(nats_server, unique_stream, provider_url)
    nc = await nats.connect(nats_server.url)
    await ensure_callback_stream(nc.jetstream(), settings.callback_stream)
    orphan = PendingCallback(call("orphan", "cat", f"{url}/cb", b"x"), Outcome(200, body=b"done"), Attempt(1, 3))
    held_at = time.monotonic()
    await Outbox(nc, settings.callback_stream, hold_for=1.5).hold(orphan)  # its worker dies: never delivered
    await nc.close()
    async with running(settings):
        received = await app.wait_for({"orphan"}, within=15)
    assert time.monotonic() - held_at >= 1.5
    (one,) = received["orphan"]
    assert (one.body, one.headers["x-function-status"], one.headers["x-retry"]) == (b"done", "200", "1")


@pytest.mark.parametrize("held", [True, False])
async def test_a_callback_too_large_for_a_message_waits_in_the_body_bucket_until_it_is_delivered(
    nats_server: NatsServer, unique_stream: str, provider_url: str, receiver: tuple[Receiver, str], held: bool
) -> None:
    app, url = receiver
    settings = worker_settings(nats_server, unique_stream, provider_url)
    nc = await nats.connect(nats_server.url)
    try:
        await ensure_callback_stream(nc.jetstream(), settings.callback_stream)
        bodies = await Bodies.open(nc.jetstream(), settings.body_bucket, settings.body_max_age)
        response, request = os.urandom(3 * 1024 * 1024), os.urandom(512 * 1024)
        large = PendingCallback(call("large", "cat", f"{url}/cb", request), Outcome(200, body=response), Attempt(1, 3))
        outbox = Outbox(nc, settings.callback_stream, hold_for=0.5, bodies=lambda: bodies)
        # Held by a worker that dies (it falls due), or stored for any worker's sender.
        await (outbox.hold(large) if held else outbox.store(large))
        assert len(await bodies.names()) == 1  # the message is over the server's 1 MiB: its body waits there
        async with running(settings):
            received = await app.wait_for({"large"}, within=15)
            assert await eventually(lambda: _empty(bodies), within=10)
    finally:
        await nc.close()
    (one,) = received["large"]
    assert (one.body == response, one.headers["x-function-status"]) == (True, "200")


async def test_a_held_callback_that_fits_a_message_only_without_its_schedule_waits_in_the_body_bucket(
    nats_server: NatsServer, unique_stream: str
) -> None:
    settings = worker_settings(nats_server, unique_stream, "http://127.0.0.1:9")
    nc = await nats.connect(nats_server.url)
    try:
        await ensure_callback_stream(nc.jetstream(), settings.callback_stream)
        bodies = await Bodies.open(nc.jetstream(), settings.body_bucket, settings.body_max_age)
        request = call("edge", "cat", "http://h/cb", b"request")
        probe = PendingCallback(request, Outcome(200, body=b"x" * 1_000_000), Attempt(1, 3))
        room = nc.max_payload - len(header_block(probe.message(held=True)[0])) - len(request.body)
        edge = PendingCallback(request, Outcome(200, body=os.urandom(room)), Attempt(1, 3))
        headers, body = edge.message(held=True)
        assert len(header_block(headers)) + len(body) == nc.max_payload  # the schedule's headers tip it over
        outbox = Outbox(nc, settings.callback_stream, hold_for=60, bodies=lambda: bodies)
        held = await outbox.hold(edge)
        assert (len(await bodies.names()), nc.is_connected) == (1, True)
        await outbox.release(held)  # delivered: the held copy and its body go
        assert await bodies.names() == []
    finally:
        await nc.close()


async def _empty(bodies: Bodies) -> bool | None:
    return True if not await bodies.names() else None


class Gate:
    """A callback receiver: each POST to ``/held`` waits until :attr:`open` is set. Records call ids as they come."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.holding: set[str] = set()
        self.arrived: set[str] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await request_body(receive)
        call_id = dict(scope["headers"])[b"x-call-id"].decode()
        if scope["path"] == "/held":
            self.holding.add(call_id)
            await self.open.wait()
        self.arrived.add(call_id)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    def has(self, seen: set[str], call_id: str) -> Callable[[], Awaitable[bool | None]]:
        async def check() -> bool | None:
            return True if call_id in seen else None

        return check


def in_state(store: CallStore, call_id: str, state: CallState) -> Callable[[], Awaitable[bool | None]]:
    async def check() -> bool | None:
        stored = await store.get(call_id)
        return True if stored is not None and stored.record.state is state else None

    return check


async def callback_of(store: CallStore, call_id: str) -> str | None:
    stored = await store.get(call_id)
    return stored.record.callback if stored is not None else None


async def callback_is(store: CallStore, call_id: str, callback: str) -> bool | None:
    return True if await callback_of(store, call_id) == callback else None


def unsettled(js: JetStreamContext, stream: str, durable: str, count: int) -> Callable[[], Awaitable[bool | None]]:
    async def check() -> bool | None:
        return True if (await js.consumer_info(stream, durable)).num_ack_pending == count else None

    return check


async def test_a_run_is_settled_once_its_callback_is_delivered_and_frees_its_slot_at_once(
    nats_server: NatsServer, unique_stream: str, js: JetStreamContext, provider_url: str
) -> None:
    gate = Gate()
    settings = worker_settings(nats_server, unique_stream, provider_url, max_inflight=1)
    store = await CallStore.open(js, settings.status_bucket)
    async with serving(gate) as url, running(settings):
        await publish(js, unique_stream, call("waits", "cat", f"{url}/held", b"a"))
        await eventually(gate.has(gate.holding, "waits"))
        # Its callback hangs, yet the only slot runs the next call, and that one is called back.
        await publish(js, unique_stream, call("next", "cat", f"{url}/cb", b"b"))
        await eventually(gate.has(gate.arrived, "next"))
        await eventually(in_state(store, "next", CallState.SUCCEEDED))
        # Not settled until its callback is safe: a worker that died now would leave it to run again.
        assert await in_state(store, "waits", CallState.RUNNING)()
        await eventually(unsettled(js, unique_stream, settings.durable, 1))
        gate.open.set()
        await eventually(gate.has(gate.arrived, "waits"))
        await eventually(in_state(store, "waits", CallState.SUCCEEDED))
        await eventually(unsettled(js, unique_stream, settings.durable, 0))
        assert await callback_of(store, "waits") == "delivered"
    # Delivered at once, neither callback was ever stored.
    assert (await js.stream_info(settings.callback_stream)).state.last_seq == 0


async def test_a_callback_that_fails_is_stored_for_a_retry_and_its_run_settled(
    nats_server: NatsServer, unique_stream: str, js: JetStreamContext, provider_url: str,
    receiver: tuple[Receiver, str],
) -> None:  # fmt: skip
    app, url = receiver
    app.fail_first["/cb"] = 1
    settings = worker_settings(nats_server, unique_stream, provider_url, callback_initial_wait="1s")
    store = await CallStore.open(js, settings.status_bucket)
    async with running(settings):
        await publish(js, unique_stream, call("retried", "cat", f"{url}/cb", b"a"))
        # Its first POST failed: the callback is stored, and only then the call's end written.
        await eventually(in_state(store, "retried", CallState.SUCCEEDED))
        assert app.refused == ["/cb"]
        assert (await js.stream_info(settings.callback_stream)).state.last_seq == 1
        received = await app.wait_for({"retried"})
        await eventually(unsettled(js, unique_stream, settings.durable, 0))
        await eventually(lambda: callback_is(store, "retried", "delivered"))  # noted once the sender delivered it
    (one,) = received["retried"]
    assert (one.body, one.headers["x-function-status"]) == (b"a", "200")
