"""Real ``python -m watchdog`` processes on sockets the kernel chose, driven over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support import bound_socket, eventually


@dataclass
class Watchdog:
    process: asyncio.subprocess.Process
    url: str
    log_path: Path
    lock_path: Path

    def logs(self) -> str:
        return self.log_path.read_text()

    async def logged(self, text: str, within: float = 5.0) -> None:
        async def check() -> bool | None:
            return True if text in self.logs() else None

        await eventually(check, within=within)

    async def exited(self, within: float = 10.0) -> int:
        async with asyncio.timeout(within):
            return await self.process.wait()


Start = Callable[..., Awaitable[Watchdog]]


def command(*argv: str) -> str:
    """An fprocess value that shlex.split turns back into exactly ``argv``."""
    return shlex.join(argv)


def python(code: str) -> str:
    return command(sys.executable, "-c", code)


def alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie waiting for its reaper counts as dead."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=15) as client:
        yield client


async def _healthy(http: httpx.AsyncClient, url: str) -> bool | None:
    with contextlib.suppress(httpx.TransportError):
        if (await http.get(url + "/_/health")).status_code == 200:
            return True
    return None


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
            await eventually(lambda: _healthy(http, watchdog.url), within=10)
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
