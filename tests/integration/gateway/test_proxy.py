"""``/function/`` and ``/system/`` through the gateway to a real provider, and basic auth on the system API."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from pathlib import Path

import httpx
import pytest
from nats.aio.client import Client

from faasq.natsserver import NatsServer
from tests.support.gateway_process import running_gateway, settings_for, stored

pytestmark = pytest.mark.integration


async def test_a_sync_call_round_trips(gateway: httpx.AsyncClient) -> None:
    response = await gateway.post("/function/echo/some/path?x=1", content=b"hello, gateway")
    assert (response.status_code, response.content) == (200, b"hello, gateway")
    assert uuid.UUID(response.headers["x-call-id"]).version == 4
    assert float(response.headers["x-duration-seconds"]) > 0
    kept = await gateway.put("/function/echo.openfaas-fn", content=b"again", headers={"X-Call-Id": "sync-7"})
    assert (kept.status_code, kept.content, kept.headers["x-call-id"]) == (200, b"again", "sync-7")
    missing = await gateway.post("/function/nope", content=b"x")
    assert missing.status_code == 404


async def test_the_system_api_is_proxied(gateway: httpx.AsyncClient, provider_url: str) -> None:
    listed = await gateway.get("/system/functions")
    assert listed.status_code == 200
    assert sorted(f["name"] for f in listed.json()) == ["echo", "lane"]
    one = await gateway.get("/system/function/lane", params={"namespace": "openfaas-fn"})
    assert (one.status_code, one.json()["annotations"]) == (200, {"com.openfaas.queue": "lane"})
    assert (await gateway.get("/system/function/nope")).status_code == 404
    info = await gateway.get("/system/info")
    wrapped = info.json()
    async with httpx.AsyncClient() as direct:
        assert wrapped["provider"] == (await direct.get(f"{provider_url}/system/info")).json()
    assert wrapped["version"]["release"]
    assert wrapped["arch"]
    assert "x-call-id" not in info.headers


async def test_logs_stream_as_ndjson(gateway: httpx.AsyncClient) -> None:
    assert (await gateway.post("/function/echo", content=b"log me")).status_code == 200
    async with gateway.stream("GET", "/system/logs", params={"name": "echo", "tail": "5"}) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"] == "application/x-ndjson"
        lines = [json.loads(line) async for line in stream.aiter_lines() if line]
    assert lines
    assert {line["name"] for line in lines} == {"echo"}


async def raw_status(gateway: httpx.AsyncClient, target: str) -> int:
    """The status of a GET sent byte for byte (httpx would normalise the dots away)."""
    reader, writer = await asyncio.open_connection(gateway.base_url.host, gateway.base_url.port)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n".encode())
    status_line = await reader.readline()
    writer.close()
    await writer.wait_closed()
    return int(status_line.split()[1])


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def test_basic_auth_guards_system_but_not_invocations(
    provider_url: str, nats_server: NatsServer, nc: Client, unique_stream: str, tmp_path: Path
) -> None:
    (tmp_path / "basic-auth-user").write_text("admin\n")
    (tmp_path / "basic-auth-password").write_text("s3cret\n")
    settings = settings_for(provider_url, nats_server, unique_stream, tmp_path, basic_auth=True)
    async with running_gateway(settings) as gateway:
        for headers in ({}, basic("admin", "nope"), basic("", "")):
            denied = await gateway.get("/system/functions", headers=headers)
            assert (denied.status_code, denied.text) == (401, "invalid credentials")
            assert denied.headers["www-authenticate"] == 'Basic realm="Restricted"'
        allowed = await gateway.get("/system/functions", headers=basic("admin", "s3cret"))
        assert sorted(f["name"] for f in allowed.json()) == ["echo", "lane"]
        invoked = await gateway.post("/function/echo", content=b"open")
        assert (invoked.status_code, invoked.content) == (200, b"open")
        queued = await gateway.post("/async-function/echo", content=b"open too")
        assert queued.status_code == 202
        assert (await gateway.get("/healthz")).text == "OK"
        for sneaky in ("/function/../system/functions", "/function/%2e%2e/system/functions"):
            assert await raw_status(gateway, sneaky) == 404  # no function name: never the system API
    [message] = await stored(nc, unique_stream)
    assert message.data == b"open too"
