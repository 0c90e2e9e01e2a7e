"""The gateway app in process over fakes, driven through ``httpx.ASGITransport``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from gateway.app import create_app
from gateway.config import GatewaySettings
from tests.unit.gateway.fakes import FakeLink, FakeLookup, function

# Nothing listens on the discard port: proxied routes fail fast with 502.
UNREACHABLE = "http://127.0.0.1:9/"


def settings_with(tmp_path: Path, **overrides: Any) -> GatewaySettings:
    return GatewaySettings(functions_provider_url=UNREACHABLE, secret_mount_path=tmp_path, **overrides)


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


def serve(app: FastAPI) -> Any:
    return _Served(app)


class _Served:
    def __init__(self, app: FastAPI) -> None:
        self._app = app
        self._lifespan = app.router.lifespan_context(app)
        self._client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")

    async def __aenter__(self) -> httpx.AsyncClient:
        await self._lifespan.__aenter__()
        return self._client

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()
        await self._lifespan.__aexit__(None, None, None)
