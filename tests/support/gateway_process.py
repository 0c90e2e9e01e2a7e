"""The gateway in process under uvicorn on its own socket, and what its integration tests share.

The provider is ``faasq-provider`` as a subprocess with :data:`FUNCTIONS`; each gateway has
its own stream, named by the test.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from nats.aio.client import Client
from nats.aio.msg import Msg

from faasq.natsserver import NatsServer
from gateway.app import create_app
from gateway.config import GatewaySettings
from tests.support.polling import eventually
from tests.support.sockets import bound_socket

FUNCTIONS: dict[str, dict[str, Any]] = {
    "echo": {"envProcess": "cat", "annotations": {}},
    "lane": {"envProcess": "cat", "annotations": {"com.openfaas.queue": "lane"}},
}
"""The provider's functions in the gateway's tests: two ``cat``, ``echo`` (queue ``default``) and ``lane``."""


def settings_for(
    provider_url: str, server: NatsServer, stream: str, tmp_path: Path, **overrides: Any
) -> GatewaySettings:
    values = {
        "functions_provider_url": provider_url,
        "faas_nats_address": server.host,
        "faas_nats_port": server.port,
        "faas_nats_channel": stream,
        # The same names as the queue worker's tests: a gateway and a worker of one test share them.
        "dead_letter_stream": f"{stream}-dl",
        # Each test's dead-letter stream reserves its max_bytes of the shared server's store
        # (by default three quarters of the free disk): 1 GiB each would run it out after a few dozen.
        "dead_letter_max_bytes": 16 * 1024**2,
        "status_bucket": f"{stream}-calls",
        "batch_bucket": f"{stream}-batches",
        "flow_bucket": f"{stream}-flow",
        "secret_mount_path": tmp_path,
        "faas_reconnect_delay": "0.1s",
        **overrides,
    }
    return GatewaySettings.model_validate(values)


@asynccontextmanager
async def running_gateway(settings: GatewaySettings) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway under uvicorn on a kernel-chosen port, and a client for it."""
    sock = bound_socket()
    config = uvicorn.Config(
        create_app(settings), log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))

    async def started() -> bool | None:
        if task.done():
            pytest.fail(f"the gateway did not start: {task.exception()!r}")
        return True if server.started else None

    try:
        await eventually(started, within=10)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{sock.getsockname()[1]}", timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        await task
        sock.close()


async def stored(nc: Client, stream: str) -> list[Msg]:
    """Every message in ``stream``, fetched with an ephemeral pull consumer (left unacked)."""
    js = nc.jetstream()
    count = (await js.stream_info(stream)).state.messages
    if count == 0:
        return []
    subscription = await js.pull_subscribe(f"{stream}.>", stream=stream)
    try:
        return await subscription.fetch(count, timeout=5)
    finally:
        await subscription.unsubscribe()


async def message_count(nc: Client, stream: str) -> int:
    return (await nc.jetstream().stream_info(stream)).state.messages
