"""``GET /system/logs``: a function's log lines as streamed NDJSON (faas-provider's logs handler)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from provider.deps import LogQuery, ProviderDep, SettingsDep
from provider.errors import FunctionNotFound
from provider.types import LogMessage, wire

__all__ = ["NDJSON", "router"]

NDJSON = "application/x-ndjson"

logger = logging.getLogger(__name__)

router = APIRouter()


async def _ndjson(messages: AsyncIterator[LogMessage]) -> AsyncIterator[bytes]:
    try:
        async for message in messages:
            yield json.dumps(wire(message), separators=(",", ":")).encode() + b"\n"
    except FunctionNotFound:
        logger.info("function deleted while its logs were read; ending the stream")
    finally:
        aclose = getattr(messages, "aclose", None)
        if aclose is not None:
            await aclose()


@router.get(
    "/system/logs",
    summary="Stream a function's logs",
    response_class=StreamingResponse,
    responses={
        200: {"content": {NDJSON: {}}, "description": "One log message as JSON per line."},
        404: {"description": "No such function."},
        422: {"description": "Bad query."},
    },
    tags=["logs"],
)
async def logs(provider: ProviderDep, settings: SettingsDep, query: LogQuery) -> StreamingResponse:
    request = query.model_copy(update={"namespace": query.namespace or settings.function_namespace})
    # Look the function up first: once streaming has begun the status can no longer be 404.
    await provider.get(request.name, request.namespace or "")
    return StreamingResponse(_ndjson(provider.logs(request)), media_type=NDJSON)
