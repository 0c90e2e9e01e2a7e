"""Fixtures of the provider integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from provider.local import LocalProvider
from tests.integration.provider.local_support import settings_for


@pytest.fixture
async def local(tmp_path: Path) -> AsyncIterator[LocalProvider]:
    """A started local provider with its state in ``tmp_path/state``; shut down afterwards."""
    provider = LocalProvider(settings_for(tmp_path / "state"))
    await provider.startup()
    try:
        yield provider
    finally:
        await provider.shutdown()
