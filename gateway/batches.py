"""``/async-batches/``: submit a batch of calls to one function, follow it, cancel what has not started.

``POST /async-batches/<name>`` is :class:`~gateway.batch_submission.BatchSubmitter`'s.
``GET /async-batches/<batch-id>`` answers the counts by state, progress and times, and
``?items=<state>`` pages through those items; ``DELETE`` cancels every item not started.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, unquote

import nats.errors
from starlette.types import Receive, Scope, Send

from calls.batch import BatchRecord, item_call_id
from calls.status import CallState
from calls.status_store import StatusConflict
from gateway.batch_submission import BatchSubmitter, PartlyQueued, accepted_ranges, send_batch_json
from gateway.calls import CallLedger
from gateway.errors import GatewayError, InvalidRequest, QueueUnavailable
from gateway.responses import send_error
from gateway.routes import ASYNC_BATCHES
from gateway.stores import Stores
from gateway.validation import check_batch_id
from plumbing.asgi import send_text

__all__ = ["BatchesRoute"]

logger = logging.getLogger(__name__)

_PREFIX = ASYNC_BATCHES + "/"
_Handler = Callable[[str, Scope, Receive, Send], Awaitable[None]]
_PAGE = 1000
_CANCEL_WINDOW = 64


class BatchesRoute:
    """ASGI app for ``/async-batches/``.

    Args:
        submit: serves ``POST /async-batches/<name>``.
        calls: reads and cancels the items' calls.
        stores: the batch records.
    """

    def __init__(self, submit: BatchSubmitter, calls: CallLedger, stores: Stores) -> None:
        self._submit = submit
        self._calls = calls
        self._stores = stores

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``POST /async-batches/<name>`` submits; ``GET``/``DELETE /async-batches/<batch-id>`` reads or cancels."""
        method: str = scope["method"]
        rest = unquote(scope["path"][len(_PREFIX) :])
        handlers: dict[str, _Handler] = {"POST": self._submit, "GET": self._status, "DELETE": self._cancel}
        if method not in handlers:
            await send_text(send, 405, "Method Not Allowed", [(b"allow", b"GET, POST, DELETE")])
            return
        try:
            await handlers[method](rest, scope, receive, send)
        except PartlyQueued as exc:
            logger.error("batch %s only partly queued: %s", exc.batch_id, exc)
            body = {"batch_id": exc.batch_id, "error": str(exc), "accepted": accepted_ranges(exc.stored)}
            await send_batch_json(send, 503, body, exc.batch_id)
        except (GatewayError, StatusConflict, nats.errors.Error, OSError) as exc:
            error = exc if isinstance(exc, GatewayError) else QueueUnavailable(str(exc) or type(exc).__name__)
            failed = not isinstance(exc, GatewayError) or isinstance(exc, QueueUnavailable)
            logger.log(logging.ERROR if failed else logging.INFO, "%s %s: %s", method, scope["path"], error)
            await send_error(send, error)

    async def _record(self, batch_id: str) -> BatchRecord | None:
        check_batch_id(batch_id, "batch id")
        stored = await (await self._stores.batches()).get(batch_id)
        return stored[0] if stored is not None else None

    async def _status(self, batch_id: str, scope: Scope, receive: Receive, send: Send) -> None:
        batch = await self._record(batch_id)
        if batch is None:
            await send_text(send, 404, _unknown(batch_id))
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if "items" not in query:
            await send_batch_json(send, 200, batch.view(), batch_id)
            return
        await send_batch_json(send, 200, await self._items(batch, query), batch_id)

    async def _items(self, batch: BatchRecord, query: dict[str, list[str]]) -> dict[str, Any]:
        try:
            state = CallState(query["items"][0])
            offset = max(0, int(query.get("offset", ["0"])[0]))
            limit = min(_PAGE, max(1, int(query.get("limit", ["100"])[0])))
        except ValueError:
            states = ", ".join(CallState)
            raise InvalidRequest(f"?items= takes one of {states}; offset and limit are numbers") from None
        indices = batch.indices(state)
        page = indices[offset : offset + limit]
        records = await asyncio.gather(*(self._calls.status(item_call_id(batch.batch_id, i)) for i in page))
        items = []
        for index, record in zip(page, records, strict=True):
            item: dict[str, Any] = {"index": index, "call_id": item_call_id(batch.batch_id, index)}
            if record is not None:
                found = {"state": record.state, "status_code": record.status_code, "reason": record.reason}
                item |= {key: value for key, value in found.items() if value is not None}
            items.append(item)
        more = offset + limit < len(indices)
        return {"batch_id": batch.batch_id, "state": state, "total": len(indices), "items": items} | (
            {"next_offset": offset + limit} if more else {}
        )

    async def _cancel(self, batch_id: str, scope: Scope, receive: Receive, send: Send) -> None:
        batch = await self._record(batch_id)
        if batch is None:
            await send_text(send, 404, _unknown(batch_id))
            return
        waiting = batch.indices(CallState.QUEUED) + batch.indices(CallState.RETRYING)
        window = asyncio.Semaphore(_CANCEL_WINDOW)

        async def one(index: int) -> int | None:
            async with window:
                _, cancelled = await self._calls.cancel(item_call_id(batch_id, index))
            return index if cancelled else None

        done = [index for index in await asyncio.gather(*(one(i) for i in waiting)) if index is not None]
        batch = await (await self._stores.batches()).apply(batch_id, dict.fromkeys(done, CallState.CANCELLED)) or batch
        logger.info("batch %s: %d items cancelled", batch_id, len(done))
        await send_batch_json(send, 202, batch.view() | {"cancelled": len(done)}, batch_id)


def _unknown(batch_id: str) -> str:
    return f"batch {batch_id} not found: unknown, or its record has expired"
