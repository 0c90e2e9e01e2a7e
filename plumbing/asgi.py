"""Whole responses sent straight over ASGI, for the raw routes that skip FastAPI."""

from __future__ import annotations

from starlette.types import Send

__all__ = ["Headers", "send_json", "send_text"]

Headers = list[tuple[bytes, bytes]]


async def send_text(send: Send, status: int, text: str, headers: Headers | None = None) -> None:
    """Send a whole plain-text response."""
    body = text.encode()
    start = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": start + (headers or [])})
    await send({"type": "http.response.body", "body": body})


async def send_json(send: Send, status: int, body: bytes, headers: Headers | None = None) -> None:
    """Send ``status`` with the JSON document ``body`` (already encoded) and ``headers`` besides its own."""
    start = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": start + (headers or [])})
    await send({"type": "http.response.body", "body": body})
