"""Fixtures of the provider's REST server tests: the app over a :class:`FakeProvider`, and a client of it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from provider.app import create_app
from provider.config import ProviderSettings
from tests.support.provider_fake import FakeProvider


@pytest.fixture
def fake() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
def settings(tmp_path: Path) -> ProviderSettings:
    return ProviderSettings(state_dir=tmp_path)


@pytest.fixture
async def app(settings: ProviderSettings, fake: FakeProvider) -> AsyncIterator[FastAPI]:
    app = create_app(settings, fake)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://provider") as client:
        yield client
