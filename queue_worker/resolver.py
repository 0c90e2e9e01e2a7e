"""Name resolution for callbacks that refuses the addresses the callback guard denies.

The gateway checks a callback URL's host as written, without DNS. A name can still resolve
to a denied address (or change what it resolves to after the check), so the worker's callback
session resolves through :class:`GuardedResolver`: addresses the guard refuses are dropped,
and a name left with none fails with :class:`CallbackRefused`, before any connection is made.
"""

from __future__ import annotations

import ipaddress
import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from calls.callback_guard import CallbackGuard

__all__ = ["CallbackRefused", "GuardedResolver"]


class CallbackRefused(Exception):
    """The callback's host is one the guard refuses; not worth a retry.

    Not an ``OSError``: aiohttp passes it through as it is instead of wrapping it as a DNS failure.
    """


class GuardedResolver(AbstractResolver):
    """Resolves with aiohttp's default resolver, then drops the addresses ``guard`` refuses.

    Args:
        guard: what callbacks may reach.
        resolver: the resolver asked first (aiohttp's default when None).
    """

    def __init__(self, guard: CallbackGuard, resolver: AbstractResolver | None = None) -> None:
        self._guard = guard
        self._resolver = resolver or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """The addresses of ``host`` the guard allows.

        Raises:
            CallbackRefused: every address of ``host`` is refused.
        """
        results = await self._resolver.resolve(host, port, family)
        allowed, refusal = [], ""
        for result in results:
            address = ipaddress.ip_address(result["host"].partition("%")[0])
            if (reason := self._guard.refuse_address(host.lower().rstrip("."), address)) is None:
                allowed.append(result)
            else:
                refusal = reason
        if not allowed:
            raise CallbackRefused(refusal or f"callback host {host!r} resolved to no address")
        return allowed

    async def close(self) -> None:
        """Close the resolver asked first."""
        await self._resolver.close()
