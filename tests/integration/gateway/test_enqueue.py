"""``/async-function/``: calls stored on a real JetStream, and refusals that store nothing."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import httpx
import nats
import pytest
from nats.aio.client import Client

from calls.bodies import DEFAULT_BODY_BUCKET, Bodies
from calls.flow import Priority
from calls.wire import QueuedCall
from faasq.natsserver import NatsServer
from tests.support.gateway_process import message_count, running_gateway, settings_for, stored
from tests.support.polling import eventually

pytestmark = pytest.mark.integration


async def test_a_call_is_stored_byte_for_byte_before_the_202(
    gateway: httpx.AsyncClient, nc: Client, unique_stream: str
) -> None:
    body = os.urandom(4096) + b"\r\n\x00end"
    response = await gateway.patch(
        "/async-function/echo/sub/path?q=1&q=2",
        content=body,
        headers={"X-Callback-Url": "http://127.0.0.1:9000/cb?x=1", "Content-Type": "application/x-test"},
    )
    assert (response.status_code, response.content) == (202, b"")
    call_id = response.headers["x-call-id"]
    assert uuid.UUID(call_id).version == 4
    [message] = await stored(nc, unique_stream)
    assert message.subject == f"{unique_stream}.default.{call_id}"
    assert message.data == body
    assert message.headers is not None
    assert message.headers["Nats-Msg-Id"] == call_id
    call = QueuedCall.from_message(message.headers, message.data)
    assert (call.call_id, call.function, call.namespace, call.queue) == (call_id, "echo", "openfaas-fn", "default")
    assert (call.method, call.path, call.query) == ("PATCH", "/sub/path", "q=1&q=2")
    assert (call.callback_url, call.enqueued_at_ns) == (
        "http://127.0.0.1:9000/cb?x=1",
        int(response.headers["x-start-time"]),
    )
    assert ("content-type", "application/x-test") in call.headers
    # What the worker sets itself is not stored: its host, the body's length, the call id and callback URL.
    assert not {"host", "content-length", "x-call-id", "x-callback-url"} & {name for name, _ in call.headers}
    assert message.headers == call.nats_headers()
    assert set(message.headers) == {"Nats-Msg-Id", "Faasq-Call"}  # every field in one header


async def test_a_named_queue_and_a_client_call_id_stored_once(
    gateway: httpx.AsyncClient, nc: Client, unique_stream: str
) -> None:
    for _ in range(3):
        response = await gateway.post("/async-function/lane", content=b"once", headers={"X-Call-Id": "order-7"})
        assert (response.status_code, response.headers["x-call-id"]) == (202, "order-7")
    [message] = await stored(nc, unique_stream)
    assert (message.subject, message.data, message.headers and message.headers["Nats-Msg-Id"]) == (
        f"{unique_stream}.lane.order-7",
        b"once",
        "order-7",
    )


async def test_refused_calls_leave_the_stream_unchanged(
    provider_url: str, nats_server: NatsServer, nc: Client, unique_stream: str, tmp_path: Path
) -> None:
    settings = settings_for(provider_url, nats_server, unique_stream, tmp_path, max_body_bytes=1000)
    async with running_gateway(settings) as gateway:
        refused = [
            (await gateway.post("/async-function/nope", content=b"x")),
            (await gateway.post("/async-function/echo.elsewhere", content=b"x")),
            (await gateway.post("/async-function/echo", content=b"x", headers={"X-Callback-Url": "/relative"})),
            (await gateway.post("/async-function/echo", content=b"x", headers={"X-Call-Id": "bad id"})),
            (await gateway.post("/async-function/echo", content=b"x" * 1001)),
        ]
    assert [r.status_code for r in refused] == [404, 400, 400, 400, 413]
    assert refused[0].text == "function 'nope' not found in namespace 'openfaas-fn'"
    assert refused[1].text == "namespace 'elsewhere' is not allowed: this provider deploys to 'openfaas-fn'"
    assert refused[2].text.startswith("invalid X-Callback-Url '/relative'")
    assert refused[3].text.startswith("invalid X-Call-Id 'bad id'")
    assert refused[4].text == "request body of 1001 bytes is over the limit of 1000 bytes"
    assert await message_count(nc, unique_stream) == 0


async def test_a_body_that_fits_no_message_waits_in_the_body_bucket(
    gateway: httpx.AsyncClient, nc: Client, unique_stream: str
) -> None:
    # The server's max_payload is 1 MiB: with the call's headers, this body does not fit one message.
    large = os.urandom(1024 * 1024)
    accepted = await gateway.post("/async-function/echo", content=large, headers={"X-Call-Id": "large-body"})
    small = await gateway.post("/async-function/echo", content=b"y" * (1000 * 1000), headers={"X-Call-Id": "small"})
    assert (accepted.status_code, small.status_code) == (202, 202)
    by_id = {(message.headers or {})["Nats-Msg-Id"]: message for message in await stored(nc, unique_stream)}
    large_message, small_message = by_id["large-body"], by_id["small"]
    assert (large_message.data, (large_message.headers or {}).get("Faasq-Body-Object")) == (b"", "large-body")
    assert (len(small_message.data), (small_message.headers or {}).get("Faasq-Body-Object")) == (1000 * 1000, None)
    bodies = Bodies(await nc.jetstream().object_store(DEFAULT_BODY_BUCKET))
    assert await bodies.get("large-body") == large
    await bodies.delete("large-body")


async def test_nats_stopped_is_503_never_202_then_it_recovers(
    provider_url: str, unique_stream: str, tmp_path: Path
) -> None:
    server = NatsServer.start(tmp_path / "private-nats")
    settings = settings_for(provider_url, server, unique_stream, tmp_path, enqueue_timeout="1s")
    try:
        async with running_gateway(settings) as gateway:
            assert (await gateway.post("/async-function/echo", content=b"before")).status_code == 202
            server.stop()
            for attempt in range(3):
                response = await gateway.post(
                    "/async-function/echo", content=b"x", headers={"X-Call-Id": f"c{attempt}"}
                )
                assert response.status_code == 503
                assert response.text.startswith("Error queuing request: ")
                assert response.headers["x-call-id"] == f"c{attempt}"
            server = NatsServer.start(tmp_path / "private-nats", port=server.port)

            async def accepted() -> bool | None:
                response = await gateway.post("/async-function/echo", content=b"after")
                assert response.status_code in (202, 503)
                return True if response.status_code == 202 else None

            await eventually(accepted, within=15, every=0.1)
        client = await nats.connect(server.url)
        try:
            bodies = [message.data for message in await stored(client, unique_stream)]
        finally:
            await client.close()
        # Nothing refused with 503 was stored behind the caller's back.
        assert bodies == [b"before", b"after"]
    finally:
        server.stop()


async def test_a_batchs_deadline_is_every_items(gateway: httpx.AsyncClient, nc: Client, unique_stream: str) -> None:
    answer = await gateway.post("/async-batches/echo", json=["a", "b"], headers={"X-Deadline": "2099-01-01T00:00:00Z"})
    assert answer.status_code == 202, answer.text
    calls = [QueuedCall.from_message(message.headers, message.data) for message in await stored(nc, unique_stream)]
    assert [call.deadline_ns for call in calls] == [4070908800 * 10**9] * 2


async def test_a_batchs_priority_is_every_items(gateway: httpx.AsyncClient, nc: Client, unique_stream: str) -> None:
    answer = await gateway.post("/async-batches/echo", json=["a", "b"], headers={"X-Priority": "high"})
    assert answer.status_code == 202, answer.text
    stored_calls = await stored(nc, unique_stream)
    assert [message.subject.split(".")[1] for message in stored_calls] == ["default=high"] * 2
    calls = [QueuedCall.from_message(message.headers, message.data) for message in stored_calls]
    assert [call.priority for call in calls] == [Priority.HIGH] * 2
