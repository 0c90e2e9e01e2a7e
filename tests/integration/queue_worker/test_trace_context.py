"""A call's W3C trace context, carried with no exporter configured: caller → queue → function → callback.

Nothing is recorded, so the context passes on as the caller sent it; a call without one gets
none. Retries keep it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import nats
import pytest

from calls.wire import QueuedCall
from faasq.natsserver import NatsServer
from plumbing.tracecontext import TraceContext
from tests.support.gateway_process import running_gateway, settings_for, stored
from tests.support.worker import Received, Receiver, running, worker_settings

pytestmark = pytest.mark.integration

CALLER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
async def gateway(
    nats_server: NatsServer, unique_stream: str, provider_url: str, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    async with running_gateway(settings_for(provider_url, nats_server, unique_stream, tmp_path)) as client:
        yield client


def _printed(callback: Received) -> dict[str, str]:
    return dict(line.split("=", 1) for line in callback.body.decode().splitlines() if "=" in line)


async def _run(gateway: httpx.AsyncClient, receiver: tuple[Receiver, str], **headers: str) -> Received:
    app, url = receiver
    accepted = await gateway.post("/async-function/env", headers={"X-Callback-Url": f"{url}/cb", **headers})
    assert accepted.status_code == 202, accepted.text
    call_id = accepted.headers["x-call-id"]
    return (await app.wait_for({call_id}))[call_id][0]


async def test_the_callers_context_reaches_the_function_and_the_callback_unchanged(
    gateway: httpx.AsyncClient,
    receiver: tuple[Receiver, str],
    nats_server: NatsServer,
    unique_stream: str,
    provider_url: str,
) -> None:
    async with running(worker_settings(nats_server, unique_stream, provider_url)):
        callback = await _run(gateway, receiver, traceparent=CALLER, tracestate="rojo=00f067aa0ba902b7")
    printed = _printed(callback)
    assert (printed["Http_Traceparent"], printed["Http_Tracestate"]) == (CALLER, "rojo=00f067aa0ba902b7")
    assert (callback.headers["traceparent"], callback.headers["tracestate"]) == (CALLER, "rojo=00f067aa0ba902b7")


async def test_with_no_exporter_a_call_without_a_valid_context_starts_no_trace(
    gateway: httpx.AsyncClient,
    receiver: tuple[Receiver, str],
    nats_server: NatsServer,
    unique_stream: str,
    provider_url: str,
) -> None:
    """As OpenTelemetry's API without an SDK: nothing records a trace, so none is made up."""
    async with running(worker_settings(nats_server, unique_stream, provider_url)):
        absent = await _run(gateway, receiver)
        invalid = await _run(gateway, receiver, traceparent="00-" + "0" * 32 + "-b7ad6b7169203331-01")
    for callback in (absent, invalid):
        assert "Http_Traceparent" not in _printed(callback)
        assert "traceparent" not in callback.headers


async def test_the_context_is_a_header_of_the_stored_message_not_among_the_calls_headers(
    gateway: httpx.AsyncClient, nats_server: NatsServer, unique_stream: str
) -> None:
    accepted = await gateway.post("/async-function/env", headers={"traceparent": CALLER, "X-Kept": "yes"})
    assert accepted.status_code == 202
    nc = await nats.connect(nats_server.url)
    try:
        (message,) = await stored(nc, unique_stream)
    finally:
        await nc.close()
    assert message.headers is not None
    assert message.headers["traceparent"] == CALLER
    call = QueuedCall.from_message(message.headers, message.data)
    assert call.trace == TraceContext.parse(CALLER)
    assert ("x-kept", "yes") in call.headers
    assert not [name for name, _ in call.headers if name in ("traceparent", "tracestate")]


async def test_a_retried_call_keeps_its_trace(
    gateway: httpx.AsyncClient,
    receiver: tuple[Receiver, str],
    nats_server: NatsServer,
    unique_stream: str,
    provider_url: str,
    failing: str,
) -> None:
    app, url = receiver
    settings = worker_settings(nats_server, unique_stream, provider_url, initial_retry_wait="10ms")
    headers = {"X-Callback-Url": f"{url}/cb", "traceparent": CALLER, "X-Retry-Attempts": "3"}
    async with running(settings):
        accepted = await gateway.post(f"/async-function/{failing}", headers=headers)
        call_id = accepted.headers["x-call-id"]
        (callback,) = (await app.wait_for({call_id}))[call_id]
    assert (callback.headers["x-retry"], callback.headers["traceparent"]) == ("3", CALLER)
