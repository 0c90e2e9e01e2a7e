"""The one place that turns gateway errors into HTTP responses."""

from __future__ import annotations

from starlette.types import Send

from gateway.errors import (
    BodyTimeout,
    BodyTooLarge,
    Conflict,
    FunctionNotFound,
    GatewayError,
    InvalidRequest,
    ProviderUnavailable,
    QueueMisconfigured,
    QueueUnavailable,
    UnsupportedFormat,
)
from plumbing.asgi import send_text

__all__ = ["send_error", "send_json", "status_for"]

_STATUS: dict[type[GatewayError], int] = {
    InvalidRequest: 400,
    FunctionNotFound: 404,
    BodyTimeout: 408,
    Conflict: 409,
    BodyTooLarge: 413,
    UnsupportedFormat: 415,
    QueueMisconfigured: 500,
    ProviderUnavailable: 502,
    QueueUnavailable: 503,
}


def status_for(exc: GatewayError) -> int:
    """The HTTP status of a gateway error; an error outside the known tree is a 500."""
    return next((status for cls, status in _STATUS.items() if isinstance(exc, cls)), 500)


async def send_error(send: Send, exc: GatewayError) -> None:
    """Answer with the error's status and message; the call id, if any, so the caller can resend it."""
    headers = [(b"x-call-id", exc.call_id.encode())] if exc.call_id else []
    if isinstance(exc, BodyTooLarge | BodyTimeout):
        # The rest of the body is never read: the connection cannot be reused.
        headers.append((b"connection", b"close"))
    await send_text(send, status_for(exc), str(exc), headers)


async def send_json(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    """Answer ``status`` with the JSON document ``body`` (already encoded) and ``headers`` besides its own."""
    start = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers]
    await send({"type": "http.response.start", "status": status, "headers": start})
    await send({"type": "http.response.body", "body": body})
