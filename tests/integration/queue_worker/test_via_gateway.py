"""The whole async path: the gateway enqueues, the worker invokes through the gateway, the callback arrives."""

from __future__ import annotations

from pathlib import Path

import pytest
from nats.js import JetStreamContext

from faasq.natsserver import NatsServer
from tests.integration.gateway.conftest import running_gateway, settings_for
from tests.integration.queue_worker.conftest import Receiver, invocations, running, worker_settings

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
