"""Async calls through the whole stack as ``faasq up`` runs it: gateway, JetStream, two workers, callbacks."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from tests.support.callbacks import Callback, Receiver, serving
from tests.support.polling import eventually, until
from tests.support.processes import alive, descendants
from tests.support.sockets import bound_socket, free_port
from tests.support.stack import ENVIRON, EXAMPLES, Stack

pytestmark = pytest.mark.e2e

CALLS = 500


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(EXAMPLES, tmp_path_factory.mktemp("faasq"), env={"HTTP_ECHO_PORT": str(free_port())}, workers=2)
    processes = descendants(running.process.pid)
    try:
        yield running
    finally:
        code = running.stop()
        assert (code, running.lines[-2:]) == (0, ["Stopping faasq...", "faasq stopped."]), running.output()
        assert [pid for pid in processes if alive(pid)] == []


@pytest.fixture(scope="module")
def callbacks(stack: Stack) -> Iterator[tuple[Receiver, str]]:
    receiver = Receiver(senders=[stack.ready["pids"]["worker-1"], stack.ready["pids"]["worker-2"]])
    with serving(receiver) as url:
        yield receiver, url


async def arrived(
    stack: Stack, receiver: Receiver, call_ids: set[str], within: float = 20.0
) -> dict[str, list[Callback]]:
    def grouped() -> dict[str, list[Callback]]:
        return {key: calls for key, calls in receiver.by_call_id().items() if key in call_ids}

    async def all_there() -> dict[str, list[Callback]] | None:
        seen = grouped()
        return seen if len(seen) == len(call_ids) else None

    try:
        return await eventually(all_there, within=within, every=0.05)
    except TimeoutError:
        missing = len(call_ids) - len(grouped())
        pytest.fail(f"{missing} of {len(call_ids)} callbacks missing after {within:g}s\n{stack.output()}")


def assert_echo_callback(calls: list[Callback], call_id: str, body: bytes, path: str) -> None:
    assert len(calls) == 1, f"{call_id}: {len(calls)} callbacks"
    (call,) = calls
    assert (call.method, call.path, call.body) == ("POST", path, body)
    assert call.headers["x-call-id"] == call_id
    assert call.headers["x-function-name"] == "echo"
    assert call.headers["x-function-status"] == "200"
    assert float(call.headers["x-duration-seconds"]) >= 0


async def enqueue(client: httpx.AsyncClient, bodies: dict[int, bytes], callback: str) -> dict[str, int]:
    limit = asyncio.Semaphore(32)

    async def one(index: int) -> tuple[str, int]:
        async with limit:
            response = await client.post(
                "/async-function/echo", content=bodies[index], headers={"X-Callback-Url": f"{callback}/cb/{index}"}
            )
        assert (response.status_code, response.content) == (202, b""), response.text
        return response.headers["X-Call-Id"], index

    return dict(await asyncio.gather(*(one(index) for index in bodies)))


async def test_every_call_is_called_back_exactly_once_and_both_workers_serve(
    stack: Stack, callbacks: tuple[Receiver, str]
) -> None:
    receiver, url = callbacks
    bodies = {index: f"call {index:03d} ".encode() + os.urandom(8).hex().encode() for index in range(CALLS)}
    async with httpx.AsyncClient(base_url=stack.url, timeout=10) as client:
        call_ids = await enqueue(client, bodies, url)
    assert len(call_ids) == CALLS  # distinct ids
    received = await arrived(stack, receiver, set(call_ids), within=30)
    for call_id, index in call_ids.items():
        assert_echo_callback(received[call_id], call_id, bodies[index], f"/cb/{index}")
    senders = Counter(calls[0].sender for calls in received.values())
    workers = set(receiver.senders)
    assert set(senders) == workers, f"callbacks by sender pid: {dict(senders)}, workers {workers}\n{stack.output()}"
    assert sum(senders.values()) == CALLS


async def test_the_done_when_line(stack: Stack, callbacks: tuple[Receiver, str]) -> None:
    # curl -i -X POST -H 'X-Callback-Url: <receiver>/cb' -d hi <gateway>/async-function/echo
    receiver, url = callbacks
    headers = {"X-Callback-Url": f"{url}/cb", "Content-Type": "application/x-www-form-urlencoded"}
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{stack.url}/async-function/echo", content=b"hi", headers=headers)
    assert response.status_code == 202
    call_id = response.headers["X-Call-Id"]
    received = await arrived(stack, receiver, {call_id})
    assert_echo_callback(received[call_id], call_id, b"hi", "/cb")
    assert received[call_id][0].headers["content-type"] == "application/x-www-form-urlencoded"


async def test_a_callback_carries_the_functions_own_response_headers(
    stack: Stack, callbacks: tuple[Receiver, str]
) -> None:
    receiver, url = callbacks
    headers = {"X-Callback-Url": f"{url}/cb", "Content-Type": "text/plain"}
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{stack.url}/async-function/http-echo", content=b"hi", headers=headers)
    assert response.status_code == 202
    call_id = response.headers["X-Call-Id"]
    [callback] = (await arrived(stack, receiver, {call_id}))[call_id]
    # http-echo answers with X-Served-By: OpenFaaS's worker copies the function's headers onto the callback.
    assert (callback.body, callback.headers["x-served-by"], callback.headers["x-call-id"]) == (
        b"hi",
        "http-echo",
        call_id,
    )


async def test_a_header_beyond_ascii_reaches_the_function_as_it_was_sent(
    stack: Stack, callbacks: tuple[Receiver, str]
) -> None:
    receiver, url = callbacks
    value = "ünï ✓ code".encode()
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        sync = await client.post("/function/env", content=b"x", headers={b"X-Custom": value})
        accepted = await client.post(
            "/async-function/env", content=b"x", headers={b"X-Custom": value, b"X-Callback-Url": f"{url}/cb".encode()}
        )
    call_id = accepted.headers["X-Call-Id"]
    [callback] = (await arrived(stack, receiver, {call_id}))[call_id]
    # Through two proxies (gateway, provider) or the worker and the provider: the same bytes, not re-encoded.
    line = b"Http_X_Custom=" + value + b"\n"
    assert (line in sync.content, line in callback.body) == (True, True), (sync.content, callback.body)


async def test_invoke_async_prints_the_call_id_and_the_callback_arrives(
    stack: Stack, callbacks: tuple[Receiver, str]
) -> None:
    receiver, url = callbacks
    result = stack.run("invoke", "echo", "--async", "--callback-url", f"{url}/cli", stdin=b"from the cli\n")
    assert (result.returncode, result.stderr) == (0, b"Function submitted asynchronously.\n")
    call_id = result.stdout.decode().strip()
    received = await arrived(stack, receiver, {call_id})
    assert_echo_callback(received[call_id], call_id, b"from the cli\n", "/cli")
    # Its status, recorded by the worker that ran it, through the CLI.
    status = await eventually(lambda: _status(stack, call_id, "succeeded"), within=10, every=0.1)
    assert (status["function"], status["queue"], status["attempt"], status["status_code"]) == (
        "echo",
        "default",
        1,
        200,
    )
    summary = stack.run("status", call_id)
    assert summary.stdout.decode().splitlines()[:2] == [f"Call:         {call_id}", "State:        succeeded"]
    cancel = stack.run("cancel", call_id)
    assert cancel.returncode == 1
    assert cancel.stderr.decode().startswith(f"faasq: 409 Conflict: call {call_id} has finished (succeeded)")


async def _status(stack: Stack, call_id: str, state: str) -> dict[str, object] | None:
    result = await asyncio.to_thread(stack.run, "status", "--json", call_id)
    record: dict[str, object] = json.loads(result.stdout) if result.returncode == 0 else {}
    return record if record.get("state") == state else None


@pytest.fixture
def second_gateway(stack: Stack) -> Iterator[str]:
    nats = httpx.URL(stack.ready["nats"])
    with bound_socket() as sock:
        env = {
            **ENVIRON,
            "functions_provider_url": stack.ready["provider"] + "/",
            "faas_nats_address": nats.host,
            "faas_nats_port": str(nats.port),
            "listen_fd": str(sock.fileno()),
        }
        gateway = subprocess.Popen([sys.executable, "-m", "gateway.main"], env=env, pass_fds=(sock.fileno(),))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        try:
            until(lambda: _healthy(url, gateway), within=30, every=0.05)
            yield url
        finally:
            gateway.send_signal(signal.SIGTERM)
            assert gateway.wait(30) == 0


def _healthy(url: str, gateway: subprocess.Popen[bytes]) -> bool | None:
    assert gateway.poll() is None, f"the second gateway exited with {gateway.returncode}"
    try:
        return httpx.get(f"{url}/healthz").status_code == 200 or None
    except httpx.TransportError:
        return None


async def test_a_second_gateway_enqueues_into_the_same_stream(
    stack: Stack, callbacks: tuple[Receiver, str], second_gateway: str
) -> None:
    receiver, url = callbacks
    bodies = {index: f"second gateway {index}".encode() for index in range(20)}
    async with httpx.AsyncClient(base_url=second_gateway, timeout=10) as client:
        call_ids = await enqueue(client, bodies, url)
    received = await arrived(stack, receiver, set(call_ids))
    for call_id, index in call_ids.items():
        assert_echo_callback(received[call_id], call_id, bodies[index], f"/cb/{index}")
