"""``/async-calls/<call-id>`` and ``DELETE /async-function/<call-id>`` on a real JetStream and status bucket."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from nats.aio.client import Client

from calls.status import CallRecord, CallState
from calls.status_store import CallStore
from calls.wire import QueuedCall
from faasq.natsserver import NatsServer
from gateway.config import GatewaySettings
from tests.support.gateway_process import message_count, running_gateway, settings_for, stored

pytestmark = pytest.mark.integration


@pytest.fixture
async def store(nc: Client, gateway_settings: GatewaySettings) -> AsyncIterator[CallStore]:
    yield await CallStore.open(nc.jetstream(), gateway_settings.status_bucket)
    await nc.jetstream().delete_key_value(gateway_settings.status_bucket)


@pytest.fixture
def gateway_settings(provider_url: str, nats_server: NatsServer, unique_stream: str, tmp_path: Path) -> GatewaySettings:
    return settings_for(provider_url, nats_server, unique_stream, tmp_path, status_bucket=f"{unique_stream}-calls")


async def enqueue(gateway: httpx.AsyncClient, function: str = "echo", call_id: str | None = None) -> str:
    headers = {"X-Call-Id": call_id} if call_id else {}
    accepted = await gateway.post(f"/async-function/{function}", content=b"x", headers=headers)
    assert accepted.status_code == 202
    return accepted.headers["x-call-id"]


async def test_a_queued_call_is_read_from_the_queue(gateway: httpx.AsyncClient) -> None:
    accepted = await gateway.post("/async-function/lane", content=b"x", headers={"X-Call-Id": "order.7:a"})
    assert accepted.status_code == 202
    status = await gateway.get("/async-calls/order.7:a")
    assert (status.status_code, status.headers["content-type"]) == (200, "application/json")
    enqueued = datetime.fromtimestamp(int(accepted.headers["x-start-time"]) / 1e9, UTC)
    assert status.json() == {
        "call_id": "order.7:a",
        "function": "lane",
        "namespace": "openfaas-fn",
        "queue": "lane",
        "state": "queued",
        "attempt": 0,
        "enqueued_at": enqueued.isoformat().replace("+00:00", "Z"),
        "updated_at": enqueued.isoformat().replace("+00:00", "Z"),
    }


async def test_a_record_wins_over_the_queue_and_unknown_or_bad_ids_are_refused(
    gateway: httpx.AsyncClient, nc: Client, unique_stream: str, store: CallStore
) -> None:
    call_id = await enqueue(gateway)
    [message] = await stored(nc, unique_stream)
    record = (await gateway.get(f"/async-calls/{call_id}")).json()
    running = CallRecord.model_validate(record).to(CallState.RUNNING, attempt=1)
    await store.put(running)
    assert (await gateway.get(f"/async-calls/{call_id}")).json()["state"] == "running"
    unknown = await gateway.get("/async-calls/no-such-call")
    assert (unknown.status_code, unknown.text) == (
        404,
        "call no-such-call not found: unknown, or its status has expired",
    )
    bad = await gateway.get("/async-calls/-bad")
    assert bad.status_code == 400
    assert bad.text.startswith("invalid call id '-bad'")
    wrong = await gateway.post(f"/async-calls/{call_id}")
    assert (wrong.status_code, wrong.headers["allow"]) == (405, "GET, DELETE")
    assert message.headers is not None
    assert QueuedCall.from_message(message.headers, message.data).call_id == call_id


async def test_a_queued_call_is_cancelled_and_leaves_the_queue(
    gateway: httpx.AsyncClient, nc: Client, unique_stream: str
) -> None:
    first, second = await enqueue(gateway), await enqueue(gateway)
    cancelled = await gateway.delete(f"/async-calls/{first}")
    assert (cancelled.status_code, cancelled.json()["state"], cancelled.json()["reason"]) == (
        202, "cancelled", "cancelled by request",
    )  # fmt: skip
    # OpenFaaS Pro's form: DELETE /async-function/<call-id>, nothing after it.
    assert (await gateway.delete(f"/async-function/{second}")).status_code == 202
    assert await message_count(nc, unique_stream) == 0
    status = (await gateway.get(f"/async-calls/{first}")).json()
    assert (status["state"], status["function"]) == ("cancelled", "echo")
    again = await gateway.delete(f"/async-calls/{first}")
    assert (again.status_code, again.text) == (
        409, f"call {first} has finished (cancelled): only a call that has not started can be cancelled",
    )  # fmt: skip
    missing = await gateway.delete("/async-function/no-such-call")
    assert (missing.status_code, missing.text) == (
        404,
        "call no-such-call not found: unknown, or its status has expired",
    )


async def test_a_running_call_cannot_be_cancelled_and_a_retrying_one_can(
    gateway: httpx.AsyncClient, nc: Client, unique_stream: str, store: CallStore
) -> None:
    busy, waiting = await enqueue(gateway), await enqueue(gateway)
    for call_id, state in ((busy, CallState.RUNNING), (waiting, CallState.RETRYING)):
        stored_record = await store.get(call_id)
        assert stored_record is None  # the gateway writes no record
        record = CallRecord.model_validate((await gateway.get(f"/async-calls/{call_id}")).json())
        await store.put(record.to(state, attempt=1))
    refused = await gateway.delete(f"/async-calls/{busy}")
    assert (refused.status_code, refused.text) == (
        409, f"call {busy} is running: only a call that has not started can be cancelled",
    )  # fmt: skip
    assert (await gateway.delete(f"/async-function/{waiting}")).status_code == 202
    assert await message_count(nc, unique_stream) == 1  # the running one's
    final = await store.get(waiting)
    assert final is not None
    assert (final.record.state, final.record.attempt) == (CallState.CANCELLED, 1)


async def test_a_delete_with_a_path_is_still_an_async_call(
    gateway: httpx.AsyncClient, nc: Client, unique_stream: str
) -> None:
    accepted = await gateway.delete("/async-function/echo/")
    assert accepted.status_code == 202
    [message] = await stored(nc, unique_stream)
    call = QueuedCall.from_message(message.headers, message.data)
    assert (call.method, call.function, call.path) == ("DELETE", "echo", "/")


async def test_basic_auth_guards_status_and_both_cancel_forms(
    provider_url: str, nats_server: NatsServer, unique_stream: str, tmp_path: Path
) -> None:
    (tmp_path / "basic-auth-user").write_text("admin")
    (tmp_path / "basic-auth-password").write_text("pw")
    auth = {"Authorization": "Basic " + base64.b64encode(b"admin:pw").decode()}
    settings = settings_for(provider_url, nats_server, unique_stream, tmp_path, basic_auth=True)
    async with running_gateway(settings) as gateway:
        call_id = await enqueue(gateway)
        for method, path in (("GET", "/async-calls/"), ("DELETE", "/async-calls/"), ("DELETE", "/async-function/")):
            denied = await gateway.request(method, path + call_id)
            assert (denied.status_code, denied.text) == (401, "invalid credentials")
        assert (await gateway.get(f"/async-calls/{call_id}", headers=auth)).json()["state"] == "queued"
        assert (await gateway.delete(f"/async-function/{call_id}", headers=auth)).status_code == 202
        assert (await gateway.delete("/async-function/echo/")).status_code == 202  # an async call: open
