"""Delayed calls through a real gateway, JetStream's message schedules and a worker: scheduled, then run."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from faasq.natsserver import NatsServer
from tests.support.gateway_process import running_gateway, settings_for
from tests.support.worker import Receiver, invocations, running, worker_settings

pytestmark = pytest.mark.integration


async def test_a_delayed_call_is_scheduled_until_due_then_runs_and_is_called_back(
    nats_server: NatsServer, unique_stream: str, provider_url: str, receiver: tuple[Receiver, str], tmp_path: Path
) -> None:
    app, url = receiver
    settings = settings_for(provider_url, nats_server, unique_stream, tmp_path)
    async with running_gateway(settings) as gateway, running(worker_settings(nats_server, unique_stream, provider_url)):
        headers = {"X-Callback-Url": f"{url}/cb", "X-Delay": "2s"}
        sent = time.monotonic()  # the delay counts from when the gateway takes the call, just after this
        accepted = await gateway.post("/async-function/cat", content=b"later", headers=headers)
        assert accepted.status_code == 202, accepted.text
        call_id = accepted.headers["x-call-id"]
        status = (await gateway.get(f"/async-calls/{call_id}")).json()
        assert (status["state"], status["next_attempt_at"] is not None) == ("scheduled", True)
        now = await gateway.post("/async-function/cat", content=b"now", headers={"X-Callback-Url": f"{url}/cb"})
        callbacks = await app.wait_for({call_id, now.headers["x-call-id"]}, within=20)
        took = time.monotonic() - sent
    (later,) = callbacks[call_id]
    assert (later.body, later.headers["x-function-status"]) == (b"later", "200")
    assert 2 <= took < 4, took


async def test_a_scheduled_call_can_be_cancelled_and_never_runs(
    nats_server: NatsServer, unique_stream: str, provider_url: str, receiver: tuple[Receiver, str], tmp_path: Path
) -> None:
    app, url = receiver
    settings = settings_for(provider_url, nats_server, unique_stream, tmp_path, status_bucket=f"{unique_stream}-calls")
    before = await invocations(provider_url, "cat")
    async with running_gateway(settings) as gateway, running(worker_settings(nats_server, unique_stream, provider_url)):
        headers = {"X-Callback-Url": f"{url}/cb", "X-Not-Before": "1s"}
        call_id = (await gateway.post("/async-function/cat", content=b"x", headers=headers)).headers["x-call-id"]
        cancelled = await gateway.delete(f"/async-calls/{call_id}")
        assert (cancelled.status_code, cancelled.json()["state"]) == (202, "cancelled")
        marker = await gateway.post(
            "/async-function/cat", content=b"m", headers={"X-Delay": "2s", "X-Callback-Url": f"{url}/cb"}
        )
        await app.wait_for({marker.headers["x-call-id"]}, within=20)  # due after the cancelled one
    assert call_id not in app.by_call_id()
    assert await invocations(provider_url, "cat") == before + 1


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"X-Delay": "soon"}, "X-Delay must be a duration"),
        ({"X-Delay": "-5s"}, "X-Delay must not be negative"),
        ({"X-Delay": "5s", "X-Not-Before": "5s"}, "send X-Delay or X-Not-Before, not both"),
        ({"X-Not-Before": "2026-12-04T19:00:00"}, "X-Not-Before needs a time zone offset"),
        ({"X-Delay": "1m", "X-Deadline": "30s"}, "X-Deadline 30s is not after the call is due"),
        ({"X-Concurrency-Key": "k" * 257}, "X-Concurrency-Key must be 1 to 256 characters"),
    ],
)
async def test_a_bad_delay_is_a_400_naming_the_header_and_queues_nothing(
    nats_server: NatsServer,
    unique_stream: str,
    provider_url: str,
    tmp_path: Path,
    headers: dict[str, str],
    message: str,
) -> None:
    async with running_gateway(settings_for(provider_url, nats_server, unique_stream, tmp_path)) as gateway:
        refused = await gateway.post("/async-function/cat", content=b"x", headers=headers)
        batch = await gateway.post("/async-batches/cat", json=["a"], headers=headers)
    assert (refused.status_code, batch.status_code) == (400, 400)
    assert message in refused.text
    assert message in batch.text
