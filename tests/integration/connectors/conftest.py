"""Fixtures of the connectors' integration tests: the real provider and gateway, functions that log their calls.

The provider (a subprocess) and nats-server are shared; each test gets its own gateway under
uvicorn and deploys functions of its own, named after the test, whose calls append their
body as one line to a file, so a test counts calls by reading it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway.config import GatewaySettings
from tests.support.connector_kit import Gateway


@pytest.fixture
async def gateway(gateway_settings: GatewaySettings) -> AsyncIterator[Gateway]:
    running = Gateway(gateway_settings)
    await running.start()
    try:
        yield running
    finally:
        await running.close()
