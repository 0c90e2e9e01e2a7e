"""The gateway app in process: async enqueue over a fake link, auth, health and docs."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from plumbing.credentials import CredentialsError
from tests.support.gateway_fakes import FakeLink, FakeLookup, function, serve, settings_with


async def test_a_call_is_published_then_accepted(client: httpx.AsyncClient, link: FakeLink) -> None:
    response = await client.post(
        "/async-function/echo/a/b%20c?x=1&y=2",
        content=b"\x00binary body\xff",
        headers={
            "X-Callback-Url": "http://127.0.0.1:9000/cb",
            "Content-Type": "application/octet-stream",
            "Expect": "100-continue",
        },
    )
    assert (response.status_code, response.content) == (202, b"")
    call_id = response.headers["x-call-id"]
    assert uuid.UUID(call_id).version == 4
    [(subject, call)] = link.published
    assert subject == f"faas-request.default.{call_id}"
    assert (call.call_id, call.function, call.namespace, call.queue) == (call_id, "echo", "openfaas-fn", "default")
    assert (call.method, call.path, call.query) == ("POST", "/a/b%20c", "x=1&y=2")
    assert (call.callback_url, call.body) == ("http://127.0.0.1:9000/cb", b"\x00binary body\xff")
    assert ("content-type", "application/octet-stream") in call.headers
    # What the worker sets itself is not stored.
    assert not {"host", "content-length", "x-callback-url", "x-call-id", "expect"} & {name for name, _ in call.headers}
    assert call.enqueued_at_ns == int(response.headers["x-start-time"])


async def test_any_method_and_a_namespace_and_a_named_queue(client: httpx.AsyncClient, link: FakeLink) -> None:
    assert (await client.put("/async-function/echo.staging", content=b"x")).status_code == 202
    assert (await client.delete("/async-function/slow/")).status_code == 202
    [(first_subject, first), (second_subject, second)] = link.published
    assert (first_subject, first.namespace, first.method, first.path) == (
        f"faas-request.default.{first.call_id}",
        "staging",
        "PUT",
        "/",
    )
    assert (second_subject, second.queue, second.method, second.body) == (
        f"faas-request.slow.{second.call_id}",
        "slow",
        "DELETE",
        b"",
    )


async def test_hop_by_hop_headers_are_not_queued(client: httpx.AsyncClient, link: FakeLink) -> None:
    headers = {"Connection": "keep-alive, X-Private", "X-Private": "1", "Keep-Alive": "5", "X-Kept": "yes"}
    assert (await client.post("/async-function/echo", content=b"x", headers=headers)).status_code == 202
    names = [name for name, _ in link.published[0][1].headers]
    assert "x-kept" in names
    assert not {"connection", "x-private", "keep-alive"} & set(names)


async def test_a_client_call_id_is_kept_and_a_resend_is_accepted_once(
    client: httpx.AsyncClient, link: FakeLink
) -> None:
    for _ in range(2):
        response = await client.post("/async-function/echo", content=b"x", headers={"X-Call-Id": "order-42"})
        assert (response.status_code, response.headers["x-call-id"]) == (202, "order-42")
    assert [call.call_id for _, call in link.published] == ["order-42"]


@pytest.mark.parametrize(
    ("path", "headers", "status", "text"),
    [
        ("/async-function/nope", {}, 404, "function 'nope' not found in namespace 'openfaas-fn'"),
        ("/async-function/echo.other", {}, 404, "function 'echo' not found in namespace 'other'"),
        ("/async-function/bad%20name", {}, 400, "invalid function name 'bad name'"),
        ("/async-function/a..b", {}, 400, "invalid function name 'a..b'"),
        ("/async-function/echo", {"X-Callback-Url": "not a url"}, 400, "invalid X-Callback-Url 'not a url'"),
        ("/async-function/echo", {"X-Callback-Url": "ftp://h/x"}, 400, "invalid X-Callback-Url 'ftp://h/x'"),
        ("/async-function/echo", {"X-Call-Id": "has space"}, 400, "invalid X-Call-Id 'has space'"),
        (
            "/async-function/echo",
            {"X-Deadline": "soon"},
            400,
            "X-Deadline must be an RFC 3339 time (2026-12-04T18:00:00Z) or a duration (90s, 15m), got 'soon'",
        ),
        ("/async-function/echo", {"X-Deadline": "2020-01-01T00:00:00Z"}, 400, "X-Deadline 2020-01-01T00:00:00Z is"),
        ("/async-batches/echo", {"X-Deadline": "-1m"}, 400, "X-Deadline must be in the future, got '-1m'"),
    ],
)
async def test_bad_requests_queue_nothing(
    client: httpx.AsyncClient, link: FakeLink, path: str, headers: dict[str, str], status: int, text: str
) -> None:
    response = await client.post(path, content=b"x", headers=headers)
    assert (response.status_code, response.text.split(":")[0]) == (status, text.split(":")[0])
    assert response.text.startswith(text)
    assert link.published == []


async def test_an_oversize_body_is_413_by_length_and_while_streaming(tmp_path: Path, lookup: FakeLookup) -> None:
    link = FakeLink()
    app = create_app(settings_with(tmp_path, max_body_bytes=10), link=link, lookup=lookup)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b"abcd"

    async with serve(app) as client:
        declared = await client.post("/async-function/echo", content=b"x" * 11)
        streamed = await client.post("/async-function/echo", content=chunks())
        exact = await client.post("/async-function/echo", content=b"x" * 10)
    assert (declared.status_code, declared.text) == (413, "request body of 11 bytes is over the limit of 10 bytes")
    assert (streamed.status_code, streamed.text) == (413, "request body is over the limit of 10 bytes")
    assert declared.headers["connection"] == "close"
    assert exact.status_code == 202
    assert [call.body for _, call in link.published] == [b"x" * 10]


async def test_the_body_limit_is_max_body_bytes_even_over_the_servers_max_payload(
    tmp_path: Path, lookup: FakeLookup
) -> None:
    link = FakeLink(max_payload=8)  # a larger body goes to the body bucket
    async with serve(create_app(settings_with(tmp_path, max_body_bytes=100), link=link, lookup=lookup)) as c:
        accepted = await c.post("/async-function/echo", content=b"x" * 100)
        refused = await c.post("/async-function/echo", content=b"x" * 101)
    assert accepted.status_code == 202
    assert (refused.status_code, refused.text) == (413, "request body of 101 bytes is over the limit of 100 bytes")


async def test_a_publish_failure_is_503_with_the_call_id_never_202(
    client: httpx.AsyncClient, link: FakeLink, caplog: pytest.LogCaptureFixture
) -> None:
    link.failure = "nats: connection closed"
    with caplog.at_level(logging.ERROR, logger="gateway.enqueue"):
        response = await client.post("/async-function/echo", content=b"x", headers={"X-Call-Id": "c-1"})
    assert (response.status_code, response.text) == (503, "Error queuing request: nats: connection closed")
    assert response.headers["x-call-id"] == "c-1"
    assert "async call to /async-function/echo failed (503)" in caplog.text


async def test_no_ack_in_time_is_503(tmp_path: Path, lookup: FakeLookup) -> None:
    link = FakeLink()
    link.hang = True
    app = create_app(settings_with(tmp_path, enqueue_timeout="0.05s"), link=link, lookup=lookup)
    async with serve(app) as client:
        response = await client.post("/async-function/echo", content=b"x")
    assert (response.status_code, response.text) == (503, "Error queuing request: no acknowledgement within 0.05s")


async def test_a_provider_outage_is_502(client: httpx.AsyncClient, lookup: FakeLookup) -> None:
    lookup.down = True
    response = await client.post("/async-function/echo", content=b"x")
    assert (response.status_code, response.text) == (502, "cannot look up function 'echo' at the provider: refused")


async def test_health_and_docs(client: httpx.AsyncClient) -> None:
    health = await client.get("/healthz")
    assert (health.status_code, health.text) == (200, "OK")
    assert (await client.get("/docs")).status_code == 200
    schema = (await client.get("/openapi.json")).json()
    assert "/async-function/" in schema["info"]["description"]
    assert set(schema["paths"]) == {
        "/async-function/{name}",
        "/function/{name}",
        "/async-calls/{call_id}",
        "/healthz",
        "/metrics",
        "/system/alert",
        "/system/async-functions/{name}",
        "/system/async-functions/{name}/pause",
        "/system/async-functions/{name}/resume",
        "/system/dead-letters",
        "/system/dead-letters/redrive",
        "/system/dead-letters/{call_id}",
        "/system/dead-letters/{call_id}/redrive",
        # The batches, and the provider's API the gateway proxies.
        "/async-batches/{name}",
        "/async-batches/{batch_id}",
        "/system/functions",
        "/system/function/{name}",
        "/system/scale-function/{name}",
        "/system/namespaces",
        "/system/secrets",
        "/system/info",
        "/system/logs",
    }
    assert set(schema["paths"]["/system/functions"]) == {"get", "post", "put", "delete"}
    deploy = schema["paths"]["/system/functions"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert deploy == {"$ref": "#/components/schemas/FunctionDeployment"}
    assert "service" in schema["components"]["schemas"]["FunctionDeployment"]["properties"]
    assert set(schema["paths"]["/async-calls/{call_id}"]) == {"get", "delete"}
    assert set(schema["paths"]["/async-function/{name}"]["delete"]["responses"]) == {"202", "404", "409"}
    assert set(schema["paths"]["/async-function/{name}"]["post"]["responses"]) == {
        "202",
        "400",
        "404",
        "408",
        "413",
        "431",
        "502",
        "503",
    }


async def test_the_lifespan_starts_and_stops_the_seams(tmp_path: Path) -> None:
    link, lookup = FakeLink(), FakeLookup(function("echo"))
    async with serve(create_app(settings_with(tmp_path), link=link, lookup=lookup)):
        assert (link.events, lookup.events) == (["startup"], ["startup"])
    assert (link.events, lookup.events) == (["startup", "shutdown"], ["startup", "shutdown"])


async def test_proxied_routes_report_an_unreachable_provider(client: httpx.AsyncClient) -> None:
    invoked = await client.post("/function/echo", content=b"x", headers={"X-Call-Id": "sync-1"})
    assert invoked.status_code == 502
    assert invoked.text.startswith("cannot reach the provider: ")
    assert (invoked.headers["x-call-id"], invoked.headers["x-openfaas-internal"]) == ("sync-1", "proxy")
    system = await client.get("/system/functions")
    assert system.status_code == 502
    assert "x-call-id" not in system.headers
    bad = await client.get("/function/a..b")
    assert (bad.status_code, bad.text) == (
        400,
        "invalid function name 'a..b': use letters, digits, '-', '_' and one '.ns'",
    )


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def test_basic_auth_guards_the_system_api_only(tmp_path: Path, lookup: FakeLookup) -> None:
    (tmp_path / "basic-auth-user").write_text("admin\n")
    (tmp_path / "basic-auth-password").write_text("s3cret\n")
    link = FakeLink()
    async with serve(create_app(settings_with(tmp_path, basic_auth=True), link=link, lookup=lookup)) as c:
        for headers in ({}, basic("admin", "wrong"), basic("root", "s3cret"), {"Authorization": "Bearer x"}):
            for path in ("/system/functions", "/async-calls/x", "/async-batches/x"):
                denied = await c.get(path, headers=headers)
                assert (denied.status_code, denied.text) == (401, "invalid credentials")
                assert denied.headers["www-authenticate"] == 'Basic realm="Restricted"'
        allowed = await c.get("/system/functions", headers=basic("admin", "s3cret"))
        assert allowed.status_code == 502  # past auth: the (unreachable) provider
        assert (await c.post("/async-function/echo", content=b"x")).status_code == 202
        assert (await c.get("/healthz")).status_code == 200
        assert (await c.get("/function/echo")).status_code == 502


async def test_a_browsers_cross_site_change_to_the_admin_api_is_refused_even_with_credentials(
    tmp_path: Path, lookup: FakeLookup
) -> None:
    (tmp_path / "basic-auth-user").write_text("admin\n")
    (tmp_path / "basic-auth-password").write_text("s3cret\n")
    async with serve(create_app(settings_with(tmp_path, basic_auth=True), link=FakeLink(), lookup=lookup)) as c:
        cross = basic("admin", "s3cret") | {"Sec-Fetch-Site": "cross-site"}
        for method, path in (("POST", "/system/dead-letters/redrive"), ("DELETE", "/async-calls/x")):
            refused = await c.request(method, path, headers=cross)
            assert refused.status_code == 403
            assert "cross-site" in refused.text
        # Reading is allowed, and the dashboard's own (same-origin) requests and other clients go on.
        assert (await c.get("/system/functions", headers=cross)).status_code == 502
        same = basic("admin", "s3cret") | {"Sec-Fetch-Site": "same-origin"}
        assert (await c.request("DELETE", "/async-calls/x", headers=same)).status_code != 403
        assert (await c.request("DELETE", "/async-calls/x", headers=basic("admin", "s3cret"))).status_code != 403
        # An open route stays open to every site.
        opened = await c.post("/async-function/echo", content=b"x", headers={"Sec-Fetch-Site": "cross-site"})
        assert opened.status_code == 202


def test_basic_auth_without_credentials_files_fails_at_build(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="basic-auth-user"):
        create_app(settings_with(tmp_path, basic_auth=True), link=FakeLink(), lookup=FakeLookup())


async def test_a_body_that_never_arrives_is_408(tmp_path: Path, lookup: FakeLookup) -> None:
    link = FakeLink()
    never = asyncio.Event()

    async def stalled() -> AsyncIterator[bytes]:
        yield b"first half"
        await never.wait()
        yield b"never sent"

    app = create_app(settings_with(tmp_path, read_timeout="0.05s"), link=link, lookup=lookup)
    async with serve(app) as client:
        response = await client.post("/async-function/echo", content=stalled(), headers={"X-Call-Id": "slow-1"})
    assert (response.status_code, response.text) == (408, "request body not received within 0.05s")
    assert (response.headers["x-call-id"], response.headers["connection"]) == ("slow-1", "close")
    assert link.published == []


async def test_a_deadline_travels_with_the_call(client: httpx.AsyncClient, link: FakeLink) -> None:
    sent = time.time_ns()
    assert (await client.post("/async-function/echo", content=b"x", headers={"X-Deadline": "90s"})).status_code == 202
    at = await client.post("/async-function/echo", content=b"x", headers={"X-Deadline": "2099-01-01T00:00:00Z"})
    assert at.status_code == 202
    relative, absolute = (call.deadline_ns for _, call in link.published)
    assert sent + 90 * 10**9 <= relative <= time.time_ns() + 90 * 10**9
    assert absolute == 4070908800 * 10**9


async def test_a_delayed_call_is_due_later_and_published_as_it_is(client: httpx.AsyncClient, link: FakeLink) -> None:
    sent = time.time_ns()
    delayed = await client.post("/async-function/echo", content=b"x", headers={"X-Delay": "15m", "X-Deadline": "1h"})
    assert delayed.status_code == 202
    [(_, call)] = link.published
    assert sent + 900 * 10**9 <= call.not_before_ns <= time.time_ns() + 900 * 10**9
    assert call.due_ns == call.not_before_ns
    assert call.deadline_ns - call.not_before_ns >= 2700 * 10**9
