"""Fixtures of the connectors' integration tests: the real provider and gateway, functions that log their calls.

The provider (a subprocess) and nats-server are shared; each test gets its own gateway under
uvicorn and deploys functions of its own, named after the test, whose calls append their
body as one line to a file, so a test counts calls by reading it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from faasq.natsserver import NatsServer
from gateway.config import GatewaySettings
from tests.support.connector_kit import Gateway
from tests.support.gateway_process import FUNCTIONS, settings_for
from tests.support.provider_process import running_provider


@pytest.fixture(scope="module")
def provider_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running ``faasq-provider`` with the gateway tests' ``echo`` and ``lane`` deployed and ready."""
    with running_provider(tmp_path_factory.mktemp("provider"), FUNCTIONS) as url:
        yield url


@pytest.fixture
def gateway_settings(provider_url: str, nats_server: NatsServer, unique_stream: str, tmp_path: Path) -> GatewaySettings:
    return settings_for(provider_url, nats_server, unique_stream, tmp_path)


@pytest.fixture
async def gateway(gateway_settings: GatewaySettings) -> AsyncIterator[Gateway]:
    running = Gateway(gateway_settings)
    await running.start()
    try:
        yield running
    finally:
        await running.close()
