"""Helpers of the local provider's tests: settings, function scripts, calls and process checks."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import httpx

from provider.config import ProviderSettings
from provider.local import Instance, LocalProvider
from tests.support.processes import alive
from tests.support.provider_contract import NAMESPACE, READY_WITHIN, replicas_settle


def settings_for(state_dir: Path, **overrides: object) -> ProviderSettings:
    values: dict[str, object] = {
        "state_dir": state_dir,
        "ready_timeout": timedelta(seconds=READY_WITHIN),
        "replica_stop_timeout": timedelta(seconds=5),
        **overrides,
    }
    return ProviderSettings.model_validate(values)


def script(tmp_path: Path, name: str, source: str) -> str:
    """An fprocess running a small Python file with this interpreter."""
    path = tmp_path / name
    path.write_text(source)
    return f"{sys.executable} {path}"


async def call(url: str, body: bytes = b"") -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(f"{url}/", content=body)


async def invoke(provider: LocalProvider, name: str, body: bytes = b"") -> bytes:
    response = await call(await provider.resolve(name, NAMESPACE), body)
    assert response.status_code == 200, response.text
    return response.content


async def one_instance(provider: LocalProvider, name: str) -> Instance:
    await replicas_settle(provider, name, 1)
    [instance] = provider.instances(name, NAMESPACE)
    assert instance.pid is not None
    return instance


async def truthy(condition: bool) -> bool | None:
    return True if condition else None


async def none_alive(pids: Sequence[int]) -> bool | None:
    return None if any(alive(pid) for pid in pids) else True
