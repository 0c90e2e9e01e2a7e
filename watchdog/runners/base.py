"""The runner seam, the ASGI vocabulary the watchdog speaks, and the response helpers runners share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = [
    "ClientDisconnected",
    "Message",
    "Receive",
    "Runner",
    "Scope",
    "Send",
    "read_body",
    "send_response",
    "text_headers",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class ClientDisconnected(Exception):
    """The client went away before its request body was read."""


class Runner:
    """Turns one HTTP call into a run of the function. Subclasses override what they need.

    The app has already checked the method and the in-flight limit; the runner reads the
    request from ``receive`` and answers through ``send``, always with a complete response.
    """

    @property
    def ready(self) -> bool:
        """Whether the function can take calls now; ``/_/health`` answers 503 while it is False."""
        return True

    @property
    def not_ready_reason(self) -> str:
        """Why :attr:`ready` is False, for ``/_/health``'s 503 (empty: no more to say)."""
        return ""

    @property
    def failure(self) -> str | None:
        """Why the function cannot serve any more (its server died); the watchdog then exits non-zero."""
        return None

    async def wait_ready(self) -> None:
        """Return once :attr:`ready` is True; the app writes the lock file then."""

    async def startup(self) -> None:
        """Start whatever the function needs before the first call (http mode: its server)."""

    async def shutdown(self) -> None:
        """Stop what :meth:`startup` started; called after in-flight calls were drained."""

    async def invoke(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one call: read its request, run the function, send its response."""
        raise NotImplementedError(f"{type(self).__name__} does not serve calls")


async def read_body(receive: Receive) -> bytes:
    """The whole request body, joined once.

    Raises:
        ClientDisconnected: the client went away first.
    """
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk: bytes = message.get("body", b"")
        if not message.get("more_body", False):
            if not chunks:
                return chunk  # the common case: one chunk, no copy
            chunks.append(chunk)
            return b"".join(chunks)
        chunks.append(chunk)


async def send_response(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """Send a complete response with a Content-Length."""
    head = [(b"content-length", str(len(body)).encode()), *(headers or [])]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})


def text_headers() -> list[tuple[bytes, bytes]]:
    """Headers of the watchdog's own plain-text answers (errors, health)."""
    return [(b"content-type", b"text/plain; charset=utf-8")]
