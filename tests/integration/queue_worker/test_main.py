"""``faasq-worker`` as a process: SIGTERM drains the call in flight and leaves the queued ones for the next worker."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import sys
from pathlib import Path

import pytest
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from faasq.natsserver import NatsServer
from tests.support.paths import ROOT
from tests.support.polling import eventually
from tests.support.worker import Receiver, call, publish

pytestmark = pytest.mark.integration


def worker_script() -> str:
    script = shutil.which("faasq-worker", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.fail("the faasq-worker console script is missing: pip install -e .[dev]")
    return script


async def in_flight(js: JetStreamContext, stream: str, durable: str, count: int) -> bool | None:
    try:
        info = await js.consumer_info(stream, durable)
    except NotFoundError:
        return None
    return True if info.num_ack_pending == count else None


async def test_sigterm_finishes_the_call_in_flight_and_leaves_the_queued_one(
    nats_server: NatsServer, unique_stream: str, js: JetStreamContext, provider_url: str,
    receiver: tuple[Receiver, str],
) -> None:  # fmt: skip
    app, url = receiver
    env = os.environ | {
        "faas_nats_address": nats_server.host,
        "faas_nats_port": str(nats_server.port),
        "faas_nats_channel": unique_stream,
        "gateway_invoke": "false",
        "functions_provider_url": provider_url,
        "max_inflight": "1",
        "shutdown_grace": "10s",
        "write_debug": "true",
    }
    process = await asyncio.create_subprocess_exec(
        worker_script(), "--queue", "default", env=env, cwd=ROOT, stderr=asyncio.subprocess.PIPE
    )
    try:
        await publish(js, unique_stream, call("running", "slow", f"{url}/cb", b"finished", headers=[("X-Sleep", "1")]))
        await publish(js, unique_stream, call("waiting", "cat", f"{url}/cb", b"later"))
        await eventually(lambda: in_flight(js, unique_stream, "faas-default", 1), within=10)
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 20)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr.decode()
    assert [(c.headers["x-call-id"], c.body) for c in app.calls] == [("running", b"finished")]
    info = await js.consumer_info(unique_stream, "faas-default")
    assert (info.num_pending, info.num_ack_pending, info.num_redelivered) == (1, 0, 0)
    assert (await js.stream_info(unique_stream)).state.messages == 1
    lines = stderr.decode().splitlines()
    assert any("draining 1 calls in flight" in line for line in lines), lines
    # Every line a call logs carries its call id.
    assert any(" DEBUG queue_worker.consumer [running] POST slow/: HTTP 200 in " in line for line in lines), lines
    summary = "stopped: 1 calls done, 0 retried, 0 dead-lettered, 0 malformed, 0 callbacks failed, 0 errors, "
    (closing,) = [line for line in lines if "stopped:" in line]
    assert closing.endswith(
        f"[-] {summary}0 cancelled at shutdown (left for redelivery), 0 skipped (cancelled, or finished before), "
        "0 waited for their limits, 0 runs answered 429 (backpressure)"
    ), lines


async def test_bad_settings_exit_with_one_line() -> None:
    env = os.environ | {"max_inflight": "0"}
    process = await asyncio.create_subprocess_exec(worker_script(), env=env, cwd=ROOT, stderr=asyncio.subprocess.PIPE)
    _, stderr = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 1
    assert stderr.decode().splitlines() == [
        "faasq-worker: invalid settings: max_inflight: Input should be greater than or equal to 1"
    ]


async def test_a_bad_queue_argument_exits_with_one_line() -> None:
    process = await asyncio.create_subprocess_exec(
        worker_script(), "--queue", "a.b", cwd=ROOT, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 1
    assert stderr.decode().splitlines() == [
        "faasq-worker: invalid --queue: queue: invalid queue name 'a.b': use 1-64 letters, digits, '_' or '-'"
    ]


async def test_no_nats_after_the_reconnect_attempts_exits_with_one_line() -> None:
    with socket.socket() as down:  # bound, never listening: connections are refused
        down.bind(("127.0.0.1", 0))
        env = os.environ | {
            "faas_nats_port": str(down.getsockname()[1]),
            "faas_max_reconnect": "2",
            "faas_reconnect_delay": "50ms",
        }
        process = await asyncio.create_subprocess_exec(
            worker_script(), env=env, cwd=ROOT, stderr=asyncio.subprocess.PIPE
        )
        _, stderr = await asyncio.wait_for(process.communicate(), 20)
    lines = stderr.decode().splitlines()
    assert (process.returncode, lines[-1]) == (1, "faasq-worker: nats: no servers available for connection")
    # The first try and two reconnect attempts, each one warning (its wording is the event loop's).
    assert sum("WARNING queue_worker.connection [-] NATS: " in line for line in lines) == 3
