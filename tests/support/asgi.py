"""What the test servers written as raw ASGI apps share."""

from __future__ import annotations

from starlette.types import Receive


async def request_body(receive: Receive) -> bytes:
    """The whole body of the request, however many messages it came in."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)
