"""Fixtures of the gateway's integration tests: a real provider per module, a gateway per test.

The provider is ``faasq-provider`` as a subprocess on a kernel-chosen port with two ``cat``
functions: ``echo`` (queue ``default``) and ``lane`` (annotation ``com.openfaas.queue: lane``).
Each gateway runs in process under uvicorn on its own socket, with its own stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import nats
import pytest
from nats.aio.client import Client

from gateway.config import GatewaySettings
from tests.support.gateway_process import running_gateway


@pytest.fixture
async def gateway(gateway_settings: GatewaySettings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_gateway(gateway_settings) as client:
        yield client


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    client = await nats.connect(nats_url)
    yield client
    await client.close()
