"""Helpers shared by the tests: polling with a deadline, free loopback sockets."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(check: Callable[[], Awaitable[T | None]], within: float = 5.0, every: float = 0.01) -> T:
    """Poll ``check`` until it returns something other than None; a TimeoutError fails the test."""
    async with asyncio.timeout(within):
        while True:
            if (seen := await check()) is not None:
                return seen
            await asyncio.sleep(every)


def bound_socket() -> socket.socket:
    """A listening TCP socket on a loopback port the kernel chose; hand it to a server, never its number."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock
