"""``GET /system/logs``: NDJSON, tail, instance filter, follow, 404 and 422."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from fastapi import FastAPI
from starlette.types import Message

from provider.types import FunctionDeployment
from tests.support.polling import eventually
from tests.support.provider_fake import FakeProvider

EXPECTED_LINE = {
    "name": "echo",
    "namespace": "openfaas-fn",
    "instance": "a",
    "timestamp": "2026-01-02T03:04:05Z",
    "text": "one",
}


async def deployed(fake: FakeProvider, *texts: str, instance: str = "a") -> None:
    await fake.deploy(FunctionDeployment(service="echo", image="i", namespace="openfaas-fn"))
    for text in texts:
        await fake.emit("echo", "openfaas-fn", text, instance)


def lines(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.text.endswith("\n")
    return [json.loads(line) for line in response.text.splitlines()]


async def test_logs_are_ndjson_with_openfaas_fields(client: httpx.AsyncClient, fake: FakeProvider) -> None:
    await deployed(fake, "one", "two")
    response = await client.get("/system/logs", params={"name": "echo"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    assert lines(response) == [EXPECTED_LINE, EXPECTED_LINE | {"text": "two"}]


async def test_tail_and_instance(client: httpx.AsyncClient, fake: FakeProvider) -> None:
    await deployed(fake, "one", "two", "three")
    await fake.emit("echo", "openfaas-fn", "four", instance="b")
    tail = await client.get("/system/logs", params={"name": "echo", "tail": "2", "namespace": "openfaas-fn"})
    only_b = await client.get("/system/logs", params={"name": "echo", "instance": "b"})
    assert [line["text"] for line in lines(tail)] == ["three", "four"]
    assert [line["text"] for line in lines(only_b)] == ["four"]


async def test_unknown_function_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/system/logs", params={"name": "missing"})
    assert response.status_code == 404
    assert response.text == "function 'missing' not found in namespace 'openfaas-fn'"


async def test_bad_query_is_422(client: httpx.AsyncClient, fake: FakeProvider) -> None:
    await deployed(fake)
    for params in ({}, {"name": "echo", "tail": "x"}, {"name": "echo", "since": "yesterday"}):
        response = await client.get("/system/logs", params=params)
        assert response.status_code == 422, params
        assert response.text.startswith("invalid query: ")


async def follow(app: FastAPI, fake: FakeProvider) -> tuple[asyncio.Task[None], asyncio.Event]:
    """Follow echo's logs through the ASGI app; returns once lines "one" and "two" arrived."""
    # httpx's ASGITransport buffers whole responses, so drive the ASGI app by hand.
    await deployed(fake, "one")
    sent: list[Message] = []
    leave = asyncio.Event()

    async def receive() -> Message:
        await leave.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/system/logs",
        "raw_path": b"/system/logs",
        "query_string": b"name=echo&follow=true",
        "root_path": "",
        "headers": [(b"host", b"provider")],
        "client": ("127.0.0.1", 1),
        "server": ("provider", 80),
    }
    task = asyncio.create_task(app(scope, receive, send))

    def texts() -> list[str]:
        return [json.loads(m["body"])["text"] for m in sent if m["type"] == "http.response.body" and m["body"]]

    async def has(expected: list[str]) -> bool | None:
        return True if texts() == expected else None

    await eventually(lambda: has(["one"]))
    assert sent[0]["status"] == 200
    await fake.emit("echo", "openfaas-fn", "two")
    await eventually(lambda: has(["one", "two"]))
    return task, leave


async def test_follow_streams_new_lines_until_the_caller_leaves(app: FastAPI, fake: FakeProvider) -> None:
    task, leave = await follow(app, fake)
    leave.set()
    await asyncio.wait_for(task, 5)


async def test_follow_ends_when_the_function_is_deleted(app: FastAPI, fake: FakeProvider) -> None:
    task, leave = await follow(app, fake)
    await fake.delete("echo", "openfaas-fn")
    await asyncio.wait_for(task, 5)
    assert not leave.is_set()
