"""The whole async path: the gateway enqueues, the worker invokes through the gateway, the callback arrives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from nats.js import JetStreamContext

from faasq.natsserver import NatsServer
from gateway.config import GatewaySettings
from queue_worker.config import WorkerSettings
from tests.support.gateway_process import running_gateway, settings_for
from tests.support.polling import eventually
from tests.support.worker import Receiver, invocations, running, worker_settings

pytestmark = pytest.mark.integration


async def test_an_async_call_through_the_gateway_is_run_through_it_and_called_back(
    nats_server: NatsServer, unique_stream: str, js: JetStreamContext, provider_url: str,
    receiver: tuple[Receiver, str], tmp_path: Path,
) -> None:  # fmt: skip
    app, url = receiver
    before = await invocations(provider_url, "cat")
    async with running_gateway(settings_for(provider_url, nats_server, unique_stream, tmp_path)) as gateway:
        settings = worker_settings(
            nats_server, unique_stream, provider_url, gateway_invoke=True,
            faas_gateway_address="127.0.0.1", faas_gateway_port=gateway.base_url.port,
        )  # fmt: skip
        async with running(settings):
            headers = {"X-Callback-Url": f"{url}/cb", "Content-Type": "application/x-www-form-urlencoded"}
            accepted = await gateway.post("/async-function/cat/sub?q=1", content=b"hi", headers=headers)
            assert (accepted.status_code, accepted.content) == (202, b"")
            call_id = accepted.headers["X-Call-Id"]
            (one,) = (await app.wait_for({call_id}))[call_id]
    assert (one.body, one.headers["x-function-status"], one.headers["x-function-name"]) == (b"hi", "200", "cat")
    assert one.headers["content-type"] == "application/x-www-form-urlencoded"
    assert await invocations(provider_url, "cat") - before == 1


def _both(
    provider_url: str, nats_server: NatsServer, stream: str, tmp_path: Path
) -> tuple[GatewaySettings, WorkerSettings]:
    """Settings of a gateway and a worker (invoking the provider) sharing the test's stream and status bucket."""
    gateway = settings_for(provider_url, nats_server, stream, tmp_path, status_bucket=f"{stream}-calls")
    return gateway, worker_settings(nats_server, stream, provider_url)


async def test_a_call_resent_with_the_same_call_id_runs_once(
    nats_server: NatsServer, unique_stream: str, js: JetStreamContext, provider_url: str,
    receiver: tuple[Receiver, str], tmp_path: Path,
) -> None:  # fmt: skip
    app, url = receiver
    gateway_settings, settings = _both(provider_url, nats_server, unique_stream, tmp_path)
    before = await invocations(provider_url, "cat")
    async with running_gateway(gateway_settings) as gateway:
        headers = {"X-Callback-Url": f"{url}/cb", "X-Call-Id": "pay-42"}
        answers = [await gateway.post("/async-function/cat", content=b"once", headers=headers) for _ in range(2)]
        assert [(a.status_code, a.headers["x-call-id"]) for a in answers] == [(202, "pay-42"), (202, "pay-42")]
        async with running(settings):
            await app.wait_for({"pay-42"})
            status = await eventually(lambda: _state(gateway, "pay-42", "succeeded"))
            await eventually(lambda: _queue_empty(js, unique_stream))
    assert [c.headers["x-call-id"] for c in app.calls] == ["pay-42"]
    assert await invocations(provider_url, "cat") - before == 1
    assert (status["attempt"], status["status_code"]) == (1, 200)


async def test_a_cancelled_call_never_runs_and_its_status_says_so(
    nats_server: NatsServer, unique_stream: str, js: JetStreamContext, provider_url: str,
    receiver: tuple[Receiver, str], tmp_path: Path,
) -> None:  # fmt: skip
    app, url = receiver
    gateway_settings, settings = _both(provider_url, nats_server, unique_stream, tmp_path)
    async with running_gateway(gateway_settings) as gateway:
        headers = {"X-Callback-Url": f"{url}/cb"}
        cancelled = (await gateway.post("/async-function/cat", content=b"no", headers=headers)).headers["x-call-id"]
        assert (await gateway.get(f"/async-calls/{cancelled}")).json()["state"] == "queued"
        assert (await gateway.delete(f"/async-calls/{cancelled}")).status_code == 202
        kept = (await gateway.post("/async-function/cat", content=b"yes", headers=headers)).headers["x-call-id"]
        async with running(settings) as summaries:
            await app.wait_for({kept})
            await eventually(lambda: _state(gateway, kept, "succeeded"))
            await eventually(lambda: _queue_empty(js, unique_stream))
        assert (await gateway.get(f"/async-calls/{cancelled}")).json()["state"] == "cancelled"
        late = await gateway.delete(f"/async-function/{kept}")
        assert late.status_code == 409
    assert [c.headers["x-call-id"] for c in app.calls] == [kept]
    assert summaries[0].done == 1


async def _state(gateway: httpx.AsyncClient, call_id: str, state: str) -> dict[str, Any] | None:
    response = await gateway.get(f"/async-calls/{call_id}")
    body: dict[str, Any] = response.json() if response.status_code == 200 else {}
    return body if body.get("state") == state else None


async def _queue_empty(js: JetStreamContext, stream: str) -> bool | None:
    return True if (await js.stream_info(stream)).state.messages == 0 else None
