"""Fixtures of the gateway's integration tests: a real provider per module, a gateway per test.

The provider is ``faasq-provider`` as a subprocess on a kernel-chosen port with two ``cat``
functions: ``echo`` (queue ``default``) and ``lane`` (annotation ``com.openfaas.queue: lane``).
Each gateway runs in process under uvicorn on its own socket, with its own stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
import uvicorn
from nats.aio.client import Client
from nats.aio.msg import Msg

from faasq.natsserver import NatsServer
from gateway.app import create_app
from gateway.config import GatewaySettings
from tests.integration.provider_process import running_provider
from tests.support import bound_socket, eventually

FUNCTIONS = {"echo": {}, "lane": {"com.openfaas.queue": "lane"}}


@pytest.fixture(scope="module")
def provider_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running ``faasq-provider`` with ``echo`` and ``lane`` deployed and ready."""
    functions = {name: {"envProcess": "cat", "annotations": annotations} for name, annotations in FUNCTIONS.items()}
    with running_provider(tmp_path_factory.mktemp("provider"), functions) as url:
        yield url


@pytest.fixture
def gateway_settings(provider_url: str, nats_server: NatsServer, unique_stream: str, tmp_path: Path) -> GatewaySettings:
    return settings_for(provider_url, nats_server, unique_stream, tmp_path)


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
        "status_bucket": f"{stream}-calls",
        "batch_bucket": f"{stream}-batches",
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


@pytest.fixture
async def gateway(gateway_settings: GatewaySettings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_gateway(gateway_settings) as client:
        yield client


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    client = await nats.connect(nats_url)
    yield client
    await client.close()


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
