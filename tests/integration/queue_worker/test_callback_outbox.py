"""Pending callbacks on their stream: one its worker never delivered falls due to every worker's sender."""

from __future__ import annotations

import time

import nats
import pytest

from calls.outcome import Attempt, Failure, Outcome
from calls.streams import ensure_callback_stream
from faasq.natsserver import NatsServer
from queue_worker.outbox import Outbox, PendingCallback
from tests.support.worker import Receiver, call, running, worker_settings

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
