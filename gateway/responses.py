"""The one place that turns gateway errors into HTTP responses: plain text on the raw routes, JSON on FastAPI's."""

from __future__ import annotations

import logging

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.types import Send

from gateway.errors import (
    BodyTimeout,
    BodyTooLarge,
    Conflict,
    DeadLetterNotFound,
    FunctionNotFound,
    GatewayError,
    HeadersTooLarge,
    InvalidRequest,
    ProviderUnavailable,
    QueueMisconfigured,
    QueueUnavailable,
    UnsupportedFormat,
)
from plumbing.asgi import send_text

__all__ = ["error_json", "send_error", "status_for"]

logger = logging.getLogger(__name__)

_STATUS: dict[type[GatewayError], int] = {
    InvalidRequest: 400,
    FunctionNotFound: 404,
    DeadLetterNotFound: 404,
    BodyTimeout: 408,
    Conflict: 409,
    BodyTooLarge: 413,
    HeadersTooLarge: 431,
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


async def error_json(request: Request, exc: GatewayError) -> JSONResponse:
    """FastAPI's handler of :class:`GatewayError`: ``{"detail": "..."}`` as FastAPI answers its own errors."""
    status = status_for(exc)
    if status >= 500:
        logger.error("%s %s failed: %s", request.method, request.url.path, exc)
    headers = {"x-call-id": exc.call_id} if exc.call_id else None
    return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)
