"""One aiohttp session per ``async with`` block, configured for relaying other people's requests.

The invocation proxy, the queue worker's invoker and its callback sender all own a
session this way: an unlimited connection pool (concurrency is bounded elsewhere), no
cookie jar (one caller's cookies must not reach the next), no proxy settings from the
environment, and no headers the caller did not send.
"""

from __future__ import annotations

import io
from types import TracebackType
from typing import Self

import aiohttp
import aiohttp.abc

__all__ = ["SessionOwner", "body_payload"]


_IN_ONE_GO = 2**20
"""The largest body aiohttp writes in one go; it sends a larger one chunk by chunk from a file-like object."""


def body_payload(body: bytes) -> bytes | io.BytesIO:
    """``body`` as a request's ``data``: over 1 MiB, a stream aiohttp writes chunk by chunk.

    aiohttp writes bytes in one go, holding the event loop for a large body (and warns of it).
    Make one for each request: the stream is read to its end.
    """
    return io.BytesIO(body) if len(body) > _IN_ONE_GO else body


_KEEPALIVE = 4.0
"""Seconds an idle connection is kept for reuse: under uvicorn's 5 s (the servers faasq talks to most), so a
request never goes out on a connection the server is closing, which fails it with "Server disconnected"."""


class SessionOwner:
    """Opens its aiohttp session on ``async with`` and closes it on the way out.

    Args:
        skip_auto_headers: headers aiohttp would add by itself and must not.
        auto_decompress: decompress response bodies (off where bodies are relayed as they are).
        resolver: resolves host names (aiohttp's default when None).
    """

    def __init__(
        self,
        *,
        skip_auto_headers: tuple[str, ...],
        auto_decompress: bool = False,
        resolver: aiohttp.abc.AbstractResolver | None = None,
    ) -> None:
        self._skip_auto_headers = skip_auto_headers
        self._auto_decompress = auto_decompress
        self._resolver = resolver
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """The open session."""
        if self._session is None:
            raise RuntimeError(f"{type(self).__name__} used outside its 'async with' block")
        return self._session

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=0, enable_cleanup_closed=True, resolver=self._resolver, keepalive_timeout=_KEEPALIVE
            ),
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=self._auto_decompress,
            skip_auto_headers=self._skip_auto_headers,
            trust_env=False,
        )
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
