"""Async bodies over NATS's message limit go through the JetStream object store, and leave nothing behind."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import AsyncIterator, Iterator

import httpx
import nats
import pytest
from nats.js.errors import BucketNotFoundError

from calls.bodies import DEFAULT_BODY_BUCKET, Bodies
from tests.support.callbacks import Callback, Receiver, ReceiverServer, serving
from tests.support.polling import eventually
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

STACK = """provider: {name: openfaas}
functions:
  sha: {fprocess: sha256sum}
  cat: {fprocess: cat}
  fail: {fprocess: "sh -c 'cat > /dev/null; exit 1'"}
"""
LIMIT = 8 * 1024 * 1024


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[Receiver, str]]:
    received = Receiver()
    with serving(received) as url:
        yield received, url


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("large")
    (root / "stack.yml").write_text(STACK)
    running = Stack(root / "stack.yml", root / "state", workers=1, env={"max_body_bytes": str(LIMIT)})
    try:
        yield running
    finally:
        running.close()


async def _stored(stack: Stack) -> list[str]:
    nc = await nats.connect(stack.ready["nats"])
    try:
        return await Bodies(await nc.jetstream().object_store(DEFAULT_BODY_BUCKET)).names()
    except BucketNotFoundError:  # no body was ever too large on this stack
        return []
    finally:
        await nc.close()


async def test_a_body_over_the_message_limit_reaches_the_function_whole(
    stack: Stack, receiver: tuple[Receiver, str]
) -> None:
    received, url = receiver
    body = os.urandom(5 * 1024 * 1024)
    async with httpx.AsyncClient(base_url=stack.url, timeout=60) as client:
        accepted = await client.post(
            "/async-function/sha", content=body, headers={"X-Callback-Url": f"{url}/cb", "X-Call-Id": "large-1"}
        )
    assert accepted.status_code == 202, accepted.text
    (called,) = await eventually(lambda: _called(received, "large-1"), within=60)
    assert (called.headers["x-function-status"], called.body) == (
        "200",
        f"{hashlib.sha256(body).hexdigest()}  -\n".encode(),
    )

    async def gone() -> bool | None:
        return True if "large-1" not in await _stored(stack) else None

    await eventually(gone, within=20, every=0.1)  # deleted once the call finished
    status = json.loads(stack.run("status", "large-1", "--json").stdout)
    assert status["state"] == "succeeded"


async def test_a_body_over_the_configured_limit_is_413_naming_it(stack: Stack) -> None:
    # As curl sends a large body: the headers, then the body only once the server says to go on.
    host, port = stack.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = f"POST /async-function/sha HTTP/1.1\r\nHost: {host}\r\nX-Call-Id: huge\r\n"
    head += f"Content-Length: {LIMIT + 1}\r\nExpect: 100-continue\r\n\r\n"
    writer.write(head.encode())
    async with asyncio.timeout(10):  # the head and the body may come in separate reads
        answer = await reader.readuntil(b"\r\n\r\n")
        length = next(int(line[15:]) for line in answer.lower().split(b"\r\n") if line.startswith(b"content-length:"))
        answer += await reader.readexactly(length)
    writer.close()
    expected = f"request body of {LIMIT + 1} bytes is over the limit of {LIMIT} bytes".encode()
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert answer.endswith(expected), answer
    # Streamed without a length, it is refused as it goes over.
    async with httpx.AsyncClient(base_url=stack.url, timeout=60) as client:

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(LIMIT // 65536 + 1):
                yield b"x" * 65536

        try:
            refused = await client.post("/async-function/sha", content=chunks(), headers={"X-Call-Id": "huge"})
        except httpx.TransportError:  # it stopped reading: some clients only see the connection closed
            pass
        else:
            assert (refused.status_code, refused.text) == (413, f"request body is over the limit of {LIMIT} bytes")
    assert "huge" not in await _stored(stack)


async def test_a_small_body_stays_in_its_message(stack: Stack, receiver: tuple[Receiver, str]) -> None:
    received, url = receiver
    async with httpx.AsyncClient(base_url=stack.url, timeout=60) as client:
        accepted = await client.post(
            "/async-function/sha", content=b"small", headers={"X-Callback-Url": f"{url}/cb", "X-Call-Id": "small-1"}
        )
    assert accepted.status_code == 202
    (called,) = await eventually(lambda: _called(received, "small-1"), within=30)
    assert called.body == f"{hashlib.sha256(b'small').hexdigest()}  -\n".encode()
    assert "small-1" not in await _stored(stack)


async def test_a_response_over_the_message_limit_waits_for_a_callback_receiver_that_is_down(stack: Stack) -> None:
    received = Receiver()
    server = ReceiverServer(received)  # down: its first POSTs are refused, so the callback is stored
    body = os.urandom(3 * 1024 * 1024)
    try:
        async with httpx.AsyncClient(base_url=stack.url, timeout=60) as client:
            accepted = await client.post(
                "/async-function/cat",
                content=body,
                headers={"X-Callback-Url": f"{server.url}/cb", "X-Call-Id": "large-2"},
            )
        assert accepted.status_code == 202, accepted.text
        # Stored with its response and its request (6 MiB, far over a message): both wait in the body bucket.
        await eventually(lambda: _stored_for(stack, "large-2", 2), within=30, every=0.1)
        server.start()
        (called,) = await eventually(lambda: _called(received, "large-2"), within=60, every=0.1)
    finally:
        server.close()
    assert (called.headers["x-function-status"], called.body == body) == ("200", True)
    await eventually(lambda: _stored_for(stack, "large-2", 0), within=20, every=0.1)


async def test_a_dead_lettered_calls_body_is_kept_until_its_dead_letter_is_purged(
    stack: Stack, receiver: tuple[Receiver, str]
) -> None:
    received, url = receiver
    body = os.urandom(2 * 1024 * 1024)
    async with httpx.AsyncClient(base_url=stack.url, timeout=60) as client:
        headers = {"X-Call-Id": "large-3", "X-Retry-Attempts": "1", "X-Callback-Url": f"{url}/cb"}
        accepted = await client.post("/async-function/fail", content=body, headers=headers)
        assert accepted.status_code == 202, accepted.text
        # Its failure is called back; the body stays for the dead letter all the same.
        (called,) = await eventually(lambda: _called(received, "large-3"), within=30, every=0.1)
        assert called.headers["x-function-status"] == "500"

        async def dead() -> dict[str, object] | None:
            shown = await client.get("/system/dead-letters/large-3")
            return shown.json() if shown.status_code == 200 else None

        letter = await eventually(dead, within=30, every=0.1)
        assert (letter["bodyObject"], letter["bodyBytes"]) == ("large-3", 0)
        assert await _stored_for(stack, "large-3", 1)  # a redrive runs it again, with its body
        assert (await client.delete("/system/dead-letters/large-3")).status_code == 200
    await eventually(lambda: _stored_for(stack, "large-3", 0), within=20, every=0.1)


async def _stored_for(stack: Stack, call_id: str, count: int) -> bool | None:
    """True once the body bucket holds ``count`` objects of ``call_id`` (its body, its pending callback's)."""
    mine = [name for name in await _stored(stack) if call_id in name.split(":")]
    return True if len(mine) == count else None


async def _called(received: Receiver, call_id: str) -> list[Callback] | None:
    return received.by_call_id().get(call_id)
