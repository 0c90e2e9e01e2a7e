"""Fixtures of the gateway's integration tests: a real provider per module, a gateway per test.

The provider is ``faasq-provider`` as a subprocess on a kernel-chosen port with two ``cat``
functions: ``echo`` (queue ``default``) and ``lane`` (annotation ``com.openfaas.queue: lane``).
Each gateway runs in process under uvicorn on its own socket, with its own stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import nats
import pytest
from nats.aio.client import Client

from faasq.natsserver import NatsServer
from gateway.config import GatewaySettings
from tests.support.gateway_process import FUNCTIONS, running_gateway, settings_for
from tests.support.provider_process import running_provider


@pytest.fixture(scope="module")
def provider_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running ``faasq-provider`` with ``echo`` and ``lane`` deployed and ready."""
    with running_provider(tmp_path_factory.mktemp("provider"), FUNCTIONS) as url:
        yield url


@pytest.fixture
def gateway_settings(provider_url: str, nats_server: NatsServer, unique_stream: str, tmp_path: Path) -> GatewaySettings:
    return settings_for(provider_url, nats_server, unique_stream, tmp_path)


@pytest.fixture
async def gateway(gateway_settings: GatewaySettings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_gateway(gateway_settings) as client:
        yield client


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    client = await nats.connect(nats_url)
    yield client
    await client.close()
