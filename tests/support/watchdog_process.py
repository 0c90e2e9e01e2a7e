"""Real ``python -m watchdog`` processes, as their tests drive them over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.polling import eventually


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


async def is_healthy(http: httpx.AsyncClient, url: str) -> bool | None:
    with contextlib.suppress(httpx.TransportError):
        if (await http.get(url + "/_/health")).status_code == 200:
            return True
    return None
