"""``/function/<name>``: the invocation proxy against a real uvicorn upstream on a kernel-chosen port."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from starlette.types import Message, Receive, Scope, Send

from plumbing.forwarding import request_headers, response_headers
from provider.app import create_app
from provider.config import ProviderSettings
from provider.proxy import Target, is_invocation, target_of
from provider.types import FunctionDeployment
from tests.support.polling import eventually
from tests.support.provider_fake import FakeProvider
from tests.support.sockets import bound_socket


async def _read(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        chunk: bytes = message.get("body", b"")
        body += chunk
        if not message.get("more_body"):
            return body


async def upstream_app(scope: Scope, receive: Receive, send: Send) -> None:
    """A replica: /describe reports the request, /status/<n> answers n, /slow never answers in time."""
    if scope["type"] != "http":
        return
    path: str = scope["path"]
    body = await _read(receive)
    if path.startswith("/status/"):
        headers = [(b"x-custom", b"yes"), (b"x-duration-seconds", b"99"), (b"connection", b"close, x-custom")]
        await send({"type": "http.response.start", "status": int(path[8:]), "headers": headers})
        await send({"type": "http.response.body", "body": b"status body"})
        return
    if path == "/cut":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]})
        await send({"type": "http.response.body", "body": b"only ten b", "more_body": True})
        raise RuntimeError("the replica died mid-response")
    if path == "/slow":
        await asyncio.sleep(5)
    described = {
        "method": scope["method"],
        "raw_path": scope["raw_path"].decode(),
        "query": scope["query_string"].decode(),
        "headers": [[k.decode(), v.decode()] for k, v in scope["headers"]],
        "body": body.decode(),
    }
    headers = [(b"content-type", b"application/json"), (b"set-cookie", b"a=1")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": json.dumps(described).encode()})


async def started(server: uvicorn.Server) -> bool | None:
    return True if server.started else None


@pytest.fixture
async def upstream() -> AsyncIterator[str]:
    sock = bound_socket()
    config = uvicorn.Config(
        upstream_app, log_config=None, access_log=False, lifespan="off", timeout_graceful_shutdown=0
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await eventually(lambda: started(server))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@pytest.fixture
async def echo(fake: FakeProvider, upstream: str) -> str:
    for namespace in ("openfaas-fn", "staging"):
        await fake.deploy(FunctionDeployment(service="echo", image="i", namespace=namespace))
        fake.upstreams[namespace, "echo"] = upstream
    return upstream


def header_map(described: dict[str, list[list[str]]]) -> dict[str, str]:
    return dict(described["headers"])


@pytest.mark.usefixtures("echo")
async def test_body_status_and_added_headers(client: httpx.AsyncClient, fake: FakeProvider) -> None:
    response = await client.post("/function/echo", content=b"hello", headers={"Content-Type": "text/plain"})
    assert response.status_code == 200
    described = response.json()
    assert (described["method"], described["raw_path"], described["body"]) == ("POST", "/", "hello")
    sent = header_map(described)
    assert sent["content-type"] == "text/plain"
    assert sent["content-length"] == "5"
    assert "user-agent" in sent  # the caller's, httpx's
    assert sent["x-call-id"] == response.headers["x-call-id"]
    uuid.UUID(response.headers["x-call-id"])
    assert float(response.headers["x-duration-seconds"]) > 0
    assert response.headers["set-cookie"] == "a=1"
    assert fake.resolved == [("openfaas-fn", "echo")]


@pytest.mark.usefixtures("echo")
async def test_path_query_and_namespace_suffix(client: httpx.AsyncClient, fake: FakeProvider) -> None:
    response = await client.get("/function/echo.staging/a%20b/c?x=1&y=%2F")
    described = response.json()
    assert (described["method"], described["raw_path"], described["query"]) == ("GET", "/a%20b/c", "x=1&y=%2F")
    assert fake.resolved == [("staging", "echo")]


@pytest.mark.usefixtures("echo")
async def test_callers_call_id_is_kept(client: httpx.AsyncClient) -> None:
    response = await client.put("/function/echo/", headers={"X-Call-Id": "mine"})
    assert header_map(response.json())["x-call-id"] == "mine"
    assert response.headers["x-call-id"] == "mine"


@pytest.mark.usefixtures("echo")
async def test_status_passes_through_and_hop_by_hop_headers_do_not(client: httpx.AsyncClient) -> None:
    response = await client.delete("/function/echo/status/418")
    assert (response.status_code, response.text) == (418, "status body")
    assert "x-custom" not in response.headers  # listed in Connection
    assert response.headers["x-duration-seconds"] != "99"
    assert response.headers.get_list("x-duration-seconds") == [response.headers["x-duration-seconds"]]


@pytest.mark.usefixtures("echo")
async def test_head_and_options(client: httpx.AsyncClient) -> None:
    head = await client.head("/function/echo")
    options = await client.options("/function/echo")
    assert (head.status_code, head.content, options.json()["method"]) == (200, b"", "OPTIONS")


@pytest.mark.usefixtures("echo")
async def test_other_methods_are_405(client: httpx.AsyncClient) -> None:
    response = await client.request("TRACE", "/function/echo/x")
    assert (response.status_code, response.text) == (405, "Method Not Allowed")
    assert response.headers["allow"] == "GET, POST, PUT, PATCH, DELETE, OPTIONS, HEAD"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/function/fn", True),
        ("/function/fn/", True),
        ("/function/fn.ns/a/b", True),
        ("/function/", False),
        ("/function//x", False),
        ("/functions/fn", False),
        ("/system/functions", False),
    ],
)
def test_is_invocation(path: str, expected: bool) -> None:
    assert is_invocation(path) is expected


async def test_function_without_a_name_is_not_routed(client: httpx.AsyncClient) -> None:
    response = await client.post("/function/", content=b"x")
    assert response.status_code == 404


async def test_unknown_function_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post("/function/missing", content=b"x")
    assert response.status_code == 404
    assert response.text == "function 'missing' not found in namespace 'openfaas-fn'"
    assert response.headers["x-openfaas-internal"] == "proxy"


async def test_no_replica_is_503_with_openfaas_text(client: httpx.AsyncClient, fake: FakeProvider) -> None:
    await fake.deploy(FunctionDeployment(service="idle", image="i", namespace="openfaas-fn"))
    response = await client.get("/function/idle")
    assert (response.status_code, response.text) == (503, "No endpoints available for: idle.")
    assert response.headers["x-openfaas-internal"] == "proxy"


async def test_unreachable_replica_is_502(client: httpx.AsyncClient, fake: FakeProvider) -> None:
    await fake.deploy(FunctionDeployment(service="gone", image="i", namespace="openfaas-fn"))
    with socket.socket() as closed:  # bound, never listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        fake.upstreams["openfaas-fn", "gone"] = f"http://127.0.0.1:{closed.getsockname()[1]}"
        response = await client.post("/function/gone", content=b"x")
    assert response.status_code == 502
    assert response.text.startswith("cannot reach the function's replica: ")
    assert response.headers["x-openfaas-internal"] == "proxy"


async def test_slow_replica_is_504(fake: FakeProvider, upstream: str, tmp_path: Path) -> None:
    await fake.deploy(FunctionDeployment(service="echo", image="i", namespace="openfaas-fn"))
    fake.upstreams["openfaas-fn", "echo"] = upstream
    app = create_app(ProviderSettings(state_dir=tmp_path, upstream_timeout=timedelta(seconds=0.2)), fake)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://p") as client,
    ):
        response = await client.get("/function/echo/slow")
    assert response.status_code == 504
    assert response.text == "timed out after 0.2s waiting for /slow"


@pytest.mark.usefixtures("echo")
async def test_a_replica_dying_mid_response_cuts_the_response(client: httpx.AsyncClient) -> None:
    # The status line is out; the caller must see a broken response, not a short "complete" one.
    with pytest.raises(ConnectionAbortedError, match="cannot reach the function's replica"):
        await client.get("/function/echo/cut")


def test_target_of_parses_raw_path() -> None:
    scope = {"path": "/function/fn.ns/x y", "raw_path": b"/function/fn.ns/x%20y", "query_string": b"q=1"}
    assert target_of(scope, "d") == Target("fn", "ns", "/x%20y", "q=1")
    assert target_of({"path": "/function/fn", "query_string": b""}, "d") == Target("fn", "d", "/", "")
    assert target_of({"path": "/function/fn/", "query_string": b""}, "d").url("http://h:1/") == (
        target_of({"path": "/function/fn", "query_string": b""}, "d").url("http://h:1")
    )


def test_request_headers_drop_hop_by_hop_and_host() -> None:
    scope = {
        "headers": [
            (b"host", b"gw:8080"),
            (b"connection", b"keep-alive, x-secret"),
            (b"x-secret", b"1"),
            (b"transfer-encoding", b"chunked"),
            (b"accept", b"*/*"),
        ],
        "client": ("10.0.0.1", 5),
    }
    assert request_headers(scope, "cid") == [
        ("accept", "*/*"),
        ("X-Call-Id", "cid"),
        ("X-Forwarded-Host", "gw:8080"),
        ("X-Forwarded-For", "10.0.0.1"),
    ]


def test_response_headers_replace_duration_and_call_id() -> None:
    upstream = [(b"Content-Length", b"3"), (b"X-Call-Id", b"theirs"), (b"Keep-Alive", b"timeout=5"), (b"Date", b"x")]
    assert response_headers(upstream, "ours", 0.5) == [
        (b"Content-Length", b"3"),
        (b"x-duration-seconds", b"0.500000"),
        (b"x-call-id", b"ours"),
    ]


@pytest.mark.usefixtures("echo")
async def test_a_caller_leaving_mid_body_gets_no_response(app: FastAPI, caplog: pytest.LogCaptureFixture) -> None:
    incoming: list[Message] = [
        {"type": "http.request", "body": b"part", "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/function/echo",
        "raw_path": b"/function/echo",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"provider"), (b"content-length", b"100")],
        "client": ("127.0.0.1", 1),
        "server": ("provider", 80),
    }
    with caplog.at_level(logging.INFO, logger="plumbing.forwarding"):
        await app(scope, receive, send)
    assert sent == []
    assert "caller disconnected before its request body was sent" in caplog.text
