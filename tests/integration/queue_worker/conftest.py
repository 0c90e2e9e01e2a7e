"""Fixtures of the queue worker's integration tests: a real provider per module, a callback receiver per test.

The provider is ``faasq-provider`` as a subprocess on a kernel-chosen port, with the functions
of :mod:`tests.support.worker`; workers run in process on the test's own stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import nats
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from calls.streams import ensure_stream
from faasq.natsserver import NatsServer
from tests.support.provider_process import deploy, running_provider
from tests.support.worker import FUNCTIONS, Receiver, serving


@pytest.fixture(scope="module")
def provider_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running ``faasq-provider`` with ``cat``, ``env`` and ``slow`` deployed and ready."""
    functions = {name: {"envProcess": fprocess} for name, fprocess in FUNCTIONS.items()}
    with running_provider(tmp_path_factory.mktemp("provider"), functions) as url:
        yield url


@pytest.fixture(scope="module")
def failing(provider_url: str) -> Iterator[str]:
    """A function ``fail`` that answers 500 (its process exits 3), deployed for this module."""
    with httpx.Client(base_url=provider_url, timeout=30) as client:
        deploy(client, {"fail": {"envProcess": "sh -c 'cat >/dev/null; exit 3'"}})
        yield "fail"
        client.request("DELETE", "/system/functions", json={"functionName": "fail"})


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    """A :class:`Receiver` under uvicorn on a loopback socket, with its base URL."""
    app = Receiver()
    async with serving(app) as url:
        yield app, url


@pytest.fixture
async def js(nats_server: NatsServer, unique_stream: str) -> AsyncIterator[JetStreamContext]:
    """A JetStream context with the test's stream created."""
    nc: Client = await nats.connect(nats_server.url)
    context = nc.jetstream()
    await ensure_stream(context, unique_stream)
    yield context
    await nc.close()
