"""The gateway app in process over fakes, driven through ``httpx.ASGITransport``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.config import GatewaySettings
from tests.support.gateway_fakes import FakeLink, FakeLookup, function, serve, settings_with


@pytest.fixture
def link() -> FakeLink:
    return FakeLink()


@pytest.fixture
def lookup() -> FakeLookup:
    return FakeLookup(function("echo"), function("echo", "staging"), function("slow", queue="slow"))


@pytest.fixture
def settings(tmp_path: Path) -> GatewaySettings:
    return settings_with(tmp_path)


@pytest.fixture
async def client(settings: GatewaySettings, link: FakeLink, lookup: FakeLookup) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, link=link, lookup=lookup)
    async with serve(app) as served:
        yield served
