"""Fixtures of the watchdog's integration tests: real ``python -m watchdog`` processes on sockets the kernel chose."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.support.polling import eventually
from tests.support.sockets import bound_socket
from tests.support.watchdog_process import Start, Watchdog, is_healthy


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=15) as client:
        yield client


@pytest.fixture
async def start(tmp_path: Path, http: httpx.AsyncClient) -> AsyncIterator[Start]:
    """Start a watchdog with the given settings; by default wait until it is healthy."""
    started: list[Watchdog] = []

    async def _start(settings: dict[str, str], *, healthy: bool = True) -> Watchdog:
        sock = bound_socket()
        log_path = tmp_path / f"watchdog-{len(started)}.log"
        lock_path = tmp_path / f"lock-{len(started)}"
        env = {**os.environ, "lock_path": str(lock_path), **settings, "listen_fd": str(sock.fileno())}
        with log_path.open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "watchdog",
                env=env,
                pass_fds=[sock.fileno()],
                stdout=log,
                stderr=log,
                cwd=tmp_path,
            )
        watchdog = Watchdog(process, f"http://127.0.0.1:{sock.getsockname()[1]}", log_path, lock_path)
        sock.close()
        started.append(watchdog)
        if healthy:
            await eventually(lambda: is_healthy(http, watchdog.url), within=10)
        return watchdog

    yield _start
    for watchdog in started:
        if watchdog.process.returncode is None:
            # SIGTERM: an http-mode watchdog stops its upstream, and coverage of the child gets written
            watchdog.process.terminate()
            with contextlib.suppress(TimeoutError):
                await watchdog.exited(within=10)
        if watchdog.process.returncode is None:
            watchdog.process.kill()
            await watchdog.process.wait()
