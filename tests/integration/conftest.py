"""Fixtures the gateway's and the connectors' integration tests share: a real provider per module, gateway settings.

The provider is ``faasq-provider`` as a subprocess on a kernel-chosen port with the gateway
tests' functions (``tests.support.gateway_process.FUNCTIONS``); a folder whose tests need
other functions overrides ``provider_url`` in its own conftest.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from faasq.natsserver import NatsServer
from gateway.config import GatewaySettings
from tests.support.gateway_process import FUNCTIONS, settings_for
from tests.support.provider_process import running_provider


@pytest.fixture(scope="module")
def provider_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running ``faasq-provider`` with ``echo`` and ``lane`` deployed and ready."""
    with running_provider(tmp_path_factory.mktemp("provider"), FUNCTIONS) as url:
        yield url


@pytest.fixture
def gateway_settings(provider_url: str, nats_server: NatsServer, unique_stream: str, tmp_path: Path) -> GatewaySettings:
    """Settings of a gateway in process over that provider, with a stream of its own."""
    return settings_for(provider_url, nats_server, unique_stream, tmp_path)
