"""``/async-batches/``: a real gateway, real workers and functions, the batch record kept to the last item."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from nats.js.api import DiscardPolicy

from faasq.natsserver import NatsServer
from queue_worker.config import WorkerSettings
from tests.support.cli import faasq_against
from tests.support.gateway_process import message_count, running_gateway, settings_for
from tests.support.polling import eventually
from tests.support.worker import Receiver, invocations, running, worker_settings

pytestmark = pytest.mark.integration


@dataclass
class Stack:
    gateway: httpx.AsyncClient
    worker: WorkerSettings
    receiver: Receiver
    url: str
    stream: str
    nats_url: str

    def headers(self, **extra: str) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "X-Callback-Url": f"{self.url}/item",
            "X-Batch-Callback-Url": f"{self.url}/batch",
            **extra,
        }

    async def submit(self, function: str, items: list[Any], **headers: str) -> httpx.Response:
        return await self.gateway.post(
            f"/async-batches/{function}", content=json.dumps(items), headers=self.headers(**headers)
        )

    async def finished(self, batch_id: str, within: float = 20) -> dict[str, Any]:
        async def done() -> dict[str, Any] | None:
            body: dict[str, Any] = (await self.gateway.get(f"/async-batches/{batch_id}")).json()
            return body if "finished_at" in body else None

        return await eventually(done, within=within, every=0.05)

    def batch_callbacks(self) -> list[dict[str, Any]]:
        return [json.loads(call.body) for call in self.receiver.calls if call.path == "/batch"]


@pytest.fixture
async def gateway_only(
    nats_server: NatsServer, unique_stream: str, provider_url: str, receiver: tuple[Receiver, str], tmp_path: Path
) -> AsyncIterator[Stack]:
    app, url = receiver
    settings = settings_for(provider_url, nats_server, unique_stream, tmp_path, max_batch_items=50, max_body_bytes=64)
    worker = worker_settings(
        nats_server, unique_stream, provider_url, max_retry_attempts=2, initial_retry_wait="10ms",
        max_retry_wait="10ms", callback_attempts=2, callback_initial_wait="10ms", max_inflight=8,
        status_result_bytes=1024,
    )  # fmt: skip
    async with running_gateway(settings) as gateway:
        yield Stack(gateway, worker, app, url, unique_stream, nats_server.url)


@pytest.fixture
async def stack(gateway_only: Stack) -> AsyncIterator[Stack]:
    async with running(gateway_only.worker):
        yield gateway_only


async def test_a_batch_runs_every_item_and_calls_back_once_with_exact_counts(stack: Stack) -> None:
    items = [{"n": n} for n in range(30)]
    accepted = await stack.submit("cat", items)
    assert accepted.status_code == 202, accepted.text
    body = accepted.json()
    batch_id = body["batch_id"]
    assert body["call_ids"] == [f"{batch_id}-{n}" for n in range(30)]
    assert (body["total"], body["function"], accepted.headers["X-Batch-Id"]) == (30, "cat", batch_id)

    status = await stack.finished(batch_id)
    assert status["counts"] == {
        "queued": 0, "running": 0, "retrying": 0, "succeeded": 30, "failed": 0, "dead": 0, "cancelled": 0,
    }  # fmt: skip
    assert (status["done"], status["progress"], status["total"]) == (30, 1.0, 30)
    assert status["started_at"] <= status["finished_at"]
    await eventually(lambda: _true(stack.batch_callbacks()))
    items_back = await stack.receiver.wait_for({f"{batch_id}-{n}" for n in range(30)})
    # Each item went to the function as its JSON text, and its result to the item callback.
    assert {key: json.loads(calls[0].body) for key, calls in items_back.items()} == {
        f"{batch_id}-{n}": {"n": n} for n in range(30)
    }
    (summary,) = stack.batch_callbacks()
    assert (summary["batch_id"], summary["counts"]["succeeded"], summary["failed"]) == (batch_id, 30, [])
    batch_call = next(call for call in stack.receiver.calls if call.path == "/batch")
    assert (batch_call.headers["x-call-id"], batch_call.headers["x-function-name"]) == (batch_id, "cat")

    async def stamped() -> dict[str, Any] | None:
        # The worker stamps the record once the callback's POST returned: just after the receiver got it.
        record: dict[str, Any] = (await stack.gateway.get(f"/async-batches/{batch_id}")).json()
        return record if "callback_sent_at" in record else None

    final = await eventually(stamped)
    assert final["completed_by"].startswith(f"{batch_id}-")
    assert "callback_sent_at" in final


async def test_failed_items_are_counted_and_listed_with_their_reasons(stack: Stack, failing: str) -> None:
    accepted = await stack.submit(failing, ["a", "b", "c"])
    assert accepted.status_code == 202, accepted.text
    batch_id = accepted.json()["batch_id"]
    status = await stack.finished(batch_id)
    assert (status["counts"]["dead"], status["done"]) == (3, 3)
    listed = (await stack.gateway.get(f"/async-batches/{batch_id}", params={"items": "dead", "limit": 2})).json()
    assert [item["index"] for item in listed["items"]] == [0, 1]
    assert (listed["total"], listed["next_offset"]) == (3, 2)
    assert all(item["state"] == "dead" and "HTTP 500" in item["reason"] for item in listed["items"])
    rest = (await stack.gateway.get(f"/async-batches/{batch_id}?items=dead&offset=2")).json()
    assert [item["call_id"] for item in rest["items"]] == [f"{batch_id}-2"]
    assert "next_offset" not in rest
    await eventually(lambda: _true(stack.batch_callbacks()))
    (summary,) = stack.batch_callbacks()
    assert summary["failed"] == [f"{batch_id}-{n}" for n in range(3)]


@pytest.mark.parametrize(
    ("content_type", "body", "expected", "item_type"),
    [
        ("application/x-ndjson", b'{"a": 1}\n\n[2]\r\n"three"\n', ['{"a": 1}', "[2]", '"three"'], "application/json"),
        ("text/csv", b"a,1\nb,2\n", ["a,1", "b,2"], "text/plain"),
        ("application/json", b'[{"a": 1}, "two"]', ['{"a": 1}', '"two"'], "application/json"),
    ],
)
async def test_ndjson_and_lines_are_items_too_each_sent_as_what_it_is(
    stack: Stack, content_type: str, body: bytes, expected: list[str], item_type: str
) -> None:
    headers = stack.headers(**{"Content-Type": content_type})
    accepted = await stack.gateway.post("/async-batches/env", content=body, headers=headers)
    assert accepted.status_code == 202, accepted.text
    batch_id = accepted.json()["batch_id"]
    assert ("call_ids" in accepted.json()) == (content_type == "application/json")
    assert accepted.json()["call_id_format"] == f"{batch_id}-{{index}}"
    back = await stack.receiver.wait_for({f"{batch_id}-{n}" for n in range(len(expected))})
    for n, item in enumerate(expected):
        printed = back[f"{batch_id}-{n}"][0].body.decode().splitlines()
        # Each item reaches the function as its own request: the item's bytes, with the item's type.
        assert (printed[-1], f"Http_Content_Type={item_type}" in printed) == (f"body={item}", True), printed
    assert (await stack.finished(batch_id))["counts"]["succeeded"] == len(expected)


@pytest.mark.parametrize(
    ("path", "content_type", "body", "status", "message"),
    [
        ("/async-batches/nope", "application/json", b"[1]", 404, "nope"),
        ("/async-batches/cat", "application/json", b'[1, {"a": }, 3]', 400, "item 1: invalid JSON"),
        ("/async-batches/cat", "application/x-ndjson", b"1\n2\n{x\n", 400, "item 2 (line 3): invalid JSON"),
        ("/async-batches/cat", "application/json", b'[1, "' + b"x" * 100 + b'"]', 413, "item 1 is"),
        ("/async-batches/cat", "application/json", json.dumps(list(range(51))).encode(), 413, "more than 50 items"),
        ("/async-batches/cat", "application/json", b"[1, 2", 400, "ended before the JSON array"),
        ("/async-batches/cat", "application/json", b"[]", 400, "no items"),
        ("/async-batches/cat", "application/xml", b"<a/>", 415, "unsupported batch Content-Type"),
    ],
)
async def test_a_bad_batch_is_refused_with_nothing_queued(
    gateway_only: Stack, path: str, content_type: str, body: bytes, status: int, message: str
) -> None:
    response = await gateway_only.gateway.post(path, content=body, headers={"Content-Type": content_type})
    assert (response.status_code, message in response.text) == (status, True), response.text
    nc = await nats.connect(gateway_only.nats_url)
    try:
        assert await message_count(nc, gateway_only.stream) == 0
    finally:
        await nc.close()


async def test_delete_cancels_the_items_not_started_and_the_batch_still_completes(gateway_only: Stack) -> None:
    stack = gateway_only
    runs_before = await invocations_of(stack, "cat")
    accepted = await stack.submit("cat", list(range(10)))
    batch_id = accepted.json()["batch_id"]
    cancelled = await stack.gateway.delete(f"/async-batches/{batch_id}")
    assert cancelled.status_code == 202, cancelled.text
    assert (cancelled.json()["cancelled"], cancelled.json()["counts"]["cancelled"]) == (10, 10)
    assert "finished_at" in cancelled.json()
    # The workers take the cancelled items off the queue without running them; one of them calls back.
    async with running(stack.worker):
        await eventually(lambda: _true(stack.batch_callbacks()), within=20)
        nc = await nats.connect(stack.nats_url)
        try:
            await eventually(lambda: _zero(message_count(nc, stack.stream)), within=20)
        finally:
            await nc.close()
    assert await invocations_of(stack, "cat") == runs_before
    (summary,) = stack.batch_callbacks()
    assert summary["counts"]["cancelled"] == 10
    assert (await stack.gateway.delete("/async-batches/unknown-batch")).status_code == 404


async def test_a_resent_batch_is_queued_once_and_a_clash_is_refused(gateway_only: Stack) -> None:
    stack = gateway_only
    first = await stack.submit("cat", [1, 2, 3], **{"X-Batch-Id": "mine-1"})
    again = await stack.submit("cat", [1, 2, 3], **{"X-Batch-Id": "mine-1"})
    assert (first.status_code, again.status_code) == (202, 202)
    nc = await nats.connect(stack.nats_url)
    try:
        assert await message_count(nc, stack.stream) == 3
    finally:
        await nc.close()
    clash = await stack.submit("cat", [1, 2], **{"X-Batch-Id": "mine-1"})
    assert clash.status_code == 409, clash.text


async def test_a_batch_stored_only_in_part_says_exactly_which_items_were(
    nats_server: NatsServer, unique_stream: str, provider_url: str, receiver: tuple[Receiver, str], tmp_path: Path
) -> None:
    # A stream that refuses calls when full (discard new): JetStream allows it only without message schedules.
    settings = settings_for(provider_url, nats_server, unique_stream, tmp_path, message_schedules=False)
    async with running_gateway(settings) as gateway:
        stack = Stack(gateway, worker_settings(nats_server, unique_stream, provider_url), *receiver, unique_stream,
                      nats_server.url)  # fmt: skip
        nc = await nats.connect(stack.nats_url)
        try:
            js = nc.jetstream()
            info = await js.stream_info(stack.stream)
            info.config.max_msgs = 4
            info.config.discard = DiscardPolicy.NEW
            await js.update_stream(info.config)
            response = await stack.submit("cat", list(range(10)), **{"X-Batch-Id": "part-1"})
            assert response.status_code == 503, response.text
            assert response.json()["accepted"] == [[0, 3]]
            assert "X-Batch-Id: part-1" in response.json()["error"]
            assert await message_count(nc, stack.stream) == 4
            delayed = await stack.submit("cat", [1], **{"X-Delay": "1m"})
            assert (delayed.status_code, delayed.text) == (
                400, "delayed calls are off on this gateway (message_schedules=false)",
            )  # fmt: skip
        finally:
            await nc.close()


async def test_unknown_batches_and_bad_queries(gateway_only: Stack) -> None:
    assert (await gateway_only.gateway.get("/async-batches/nothing-here")).status_code == 404
    accepted = await gateway_only.submit("cat", [1])
    batch_id = accepted.json()["batch_id"]
    assert (await gateway_only.gateway.get(f"/async-batches/{batch_id}?items=bogus")).status_code == 400
    assert (await gateway_only.gateway.put(f"/async-batches/{batch_id}")).status_code == 405
    bad_id = await gateway_only.submit("cat", [1], **{"X-Batch-Id": "no spaces"})
    assert bad_id.status_code == 400


async def invocations_of(stack: Stack, name: str) -> int:
    return await invocations(stack.worker.functions_provider_url or "", name)


async def _true(value: object) -> bool | None:
    return True if value else None


async def _zero(count: Any) -> bool | None:
    return True if await count == 0 else None


async def test_faasq_batch_submits_follows_and_writes_the_results_in_input_order(stack: Stack, tmp_path: Path) -> None:
    items = tmp_path / "items.json"
    items.write_text(json.dumps([{"n": n} for n in range(5)]))
    results = tmp_path / "results.ndjson"
    argv = ["batch", "cat", str(items), "--wait", "--out", str(results), "--interval", "0.05"]
    code, out, err = await asyncio.to_thread(
        faasq_against, stack.gateway, tmp_path, *argv, "--batch-callback-url", stack.url
    )
    assert code == 0, err
    batch_id = out.split()[1].rstrip(":")
    assert out == f"Batch {batch_id}: 5 calls to cat queued.\n"
    assert err.splitlines()[-1].split(" | ")[:2] == [f"{batch_id}: 5/5 done (100.0%)", "succeeded 5"]
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert [(line["index"], line["call_id"], line["state"]) for line in lines] == [
        (n, f"{batch_id}-{n}", "succeeded") for n in range(5)
    ]
    assert [json.loads(line["result"]["body"]) for line in lines] == [{"n": n} for n in range(5)]

    code, out, _ = await asyncio.to_thread(faasq_against, stack.gateway, tmp_path, "batch", "status", batch_id)
    assert (code, out.splitlines()[0]) == (0, f"{batch_id}: 5/5 done (100.0%) | succeeded 5")


async def test_faasq_batch_wait_fails_when_an_item_failed(stack: Stack, failing: str, tmp_path: Path) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text("a,1\nb,2\n")
    argv = ["batch", failing, str(rows), "--wait", "--interval", "0.05"]
    code, _, err = await asyncio.to_thread(faasq_against, stack.gateway, tmp_path, *argv)
    assert code == 1
    assert err.splitlines()[-1].split(" | ")[1] == "dead 2"


async def test_faasq_batch_cancel_and_status_as_json(gateway_only: Stack, tmp_path: Path) -> None:
    items = tmp_path / "items.ndjson"
    items.write_text("1\n2\n3\n")
    code, out, _ = await asyncio.to_thread(
        faasq_against, gateway_only.gateway, tmp_path, "batch", "cat", str(items), "--detach"
    )
    assert code == 0
    batch_id = out.split()[1].rstrip(":")
    code, out, _ = await asyncio.to_thread(faasq_against, gateway_only.gateway, tmp_path, "batch", "cancel", batch_id)
    assert (code, out) == (0, f"Batch {batch_id}: 3 items cancelled; the others had started or finished.\n")
    argv = ["batch", "status", batch_id, "--json"]
    code, out, _ = await asyncio.to_thread(faasq_against, gateway_only.gateway, tmp_path, *argv)
    assert (code, json.loads(out)["counts"]["cancelled"]) == (0, 3)
    code, _, err = await asyncio.to_thread(
        faasq_against, gateway_only.gateway, tmp_path, "batch", "cat", str(tmp_path / "no")
    )
    assert (code, "cannot read" in err) == (1, True)
