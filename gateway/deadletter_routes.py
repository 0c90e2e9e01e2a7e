"""``/system/dead-letters``: faasq's admin routes over the dead-letter stream (list, show, redrive, purge).

Not a hot path, so FastAPI serves them; :class:`~gateway.routing.GatewayRoutes` hands them
to FastAPI before the rest of ``/system/`` goes to the provider, and basic auth guards them
like all of ``/system/``. Bad filters answer 400 and an unknown call id 404, with a message.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import nats.errors
from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse

from calls.deadletters import DeadLetterEntry
from calls.wire import CALL_ID_PATTERN
from gateway.deadletters import DeadLetterAdmin, Filters
from gateway.errors import QueueUnavailable
from plumbing.logs import current_call_id
from provider.types import parse_moment

__all__ = ["PREFIX", "dead_letter_router", "entry_json"]

logger = logging.getLogger(__name__)

PREFIX = "/system/dead-letters"
_NAME = re.compile(r"\A[-a-zA-Z_0-9]{1,253}\Z")
_CURSOR = re.compile(r"\A\d{1,19}\Z")

FunctionQuery = Annotated[str | None, Query(description="Only the dead letters of this function.")]
NamespaceQuery = Annotated[str | None, Query(description="Only the dead letters of this namespace.")]
SinceQuery = Annotated[
    str | None, Query(description="Only those given up on since: an RFC 3339 time or a duration back (1h).")
]


def _iso(ns: int) -> str | None:
    if ns <= 0:
        return None
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat().replace("+00:00", "Z")


def entry_json(entry: DeadLetterEntry, *, whole: bool = False) -> dict[str, Any]:
    """A dead letter as JSON: its metadata; with ``whole``, its request headers and body too."""
    call = entry.call
    document: dict[str, Any] = {
        "callId": call.call_id,
        "function": call.function,
        "namespace": call.namespace,
        "queue": call.queue,
        "kind": entry.kind.value,
        "reason": entry.reason,
        "status": entry.status,
        "attempts": entry.attempts,
        "deadAt": _iso(entry.dead_at_ns),
        "enqueuedAt": _iso(call.enqueued_at_ns),
        "method": call.method,
        "path": call.path,
        "query": call.query,
        "callbackUrl": call.callback_url,
        "bodyBytes": len(call.body),
        "seq": entry.seq,
    }
    if whole:
        document["headers"] = [list(pair) for pair in call.headers]
        document["body"] = base64.b64encode(call.body).decode("ascii")
        try:
            document["bodyText"] = call.body.decode()
        except UnicodeDecodeError:
            document["bodyText"] = None
    return document


def _filters(function: str | None, namespace: str | None, since: str | None) -> Filters:
    for label, name in (("function", function), ("namespace", namespace)):
        if name is not None and not _NAME.match(name):
            raise HTTPException(400, f"invalid {label} {name[:260]!r}: use letters, digits, '-' and '_'")
    moment = None
    if since is not None:
        try:
            moment = parse_moment(since, datetime.now(UTC))
        except ValueError as exc:
            raise HTTPException(400, f"invalid since: {exc}") from None
    return Filters(namespace=namespace, function=function, since=moment)


def _cursor(cursor: str | None) -> int:
    if cursor is None:
        return 0
    if not _CURSOR.match(cursor):
        raise HTTPException(400, f"invalid cursor {cursor[:40]!r}: use the nextCursor of the previous page")
    return int(cursor)


@asynccontextmanager
async def _nats_faults(call_id: str = "") -> AsyncIterator[None]:
    """NATS failing under a request is a 503 with a message (logged with the call id), never a stack trace."""
    if call_id:
        current_call_id.set(call_id)
    try:
        yield
    except QueueUnavailable as exc:
        logger.error("dead letters: %s", exc)
        raise HTTPException(503, str(exc)) from None
    except (nats.errors.Error, OSError) as exc:
        logger.error("dead letters: NATS failed: %s", exc or type(exc).__name__)
        raise HTTPException(503, f"NATS failed: {exc or type(exc).__name__}") from None


def dead_letter_router(admin: DeadLetterAdmin) -> APIRouter:  # noqa: C901 - one closure per route
    """The routes of ``/system/dead-letters`` over ``admin``."""
    router = APIRouter(prefix=PREFIX, tags=["dead letters"])

    async def found(call_id: str) -> DeadLetterEntry:
        if not CALL_ID_PATTERN.match(call_id):
            raise HTTPException(
                400, f"invalid call id {call_id[:140]!r}: use up to 128 letters, digits, '.', '_', ':' or '-'"
            )
        entry = await admin.get(call_id)
        if entry is None:
            raise HTTPException(404, f"no dead letter for call {call_id[:140]!r}")
        return entry

    @router.get("", summary="List dead letters, oldest first")
    async def listing(
        function: FunctionQuery = None,
        namespace: NamespaceQuery = None,
        since: SinceQuery = None,
        limit: Annotated[int, Query(ge=1, le=1000, description="Most dead letters in this page.")] = 100,
        cursor: Annotated[str | None, Query(description="The nextCursor of the previous page.")] = None,
    ) -> JSONResponse:
        filters, after = _filters(function, namespace, since), _cursor(cursor)
        async with _nats_faults():
            page = await admin.page(filters, after=after, limit=limit)
        next_cursor = str(page.cursor) if page.cursor is not None else None
        return JSONResponse({"items": [entry_json(e) for e in page.entries], "nextCursor": next_cursor})

    @router.post("/redrive", summary="Redrive every dead letter that matches", status_code=202)
    async def redrive_all(
        function: FunctionQuery = None, namespace: NamespaceQuery = None, since: SinceQuery = None
    ) -> JSONResponse:
        filters = _filters(function, namespace, since)
        redriven: list[str] = []
        async with _nats_faults():
            for entry in await admin.matching(filters):
                current_call_id.set(entry.call.call_id)
                await admin.redrive(entry)
                redriven.append(entry.call.call_id)
        return JSONResponse({"redriven": redriven}, status_code=202)

    @router.delete("", summary="Purge every dead letter that matches")
    async def purge_all(
        function: FunctionQuery = None, namespace: NamespaceQuery = None, since: SinceQuery = None
    ) -> JSONResponse:
        filters = _filters(function, namespace, since)
        purged: list[str] = []
        async with _nats_faults():
            for entry in await admin.matching(filters):
                await admin.purge(entry)
                purged.append(entry.call.call_id)
        return JSONResponse({"purged": purged})

    @router.get("/{call_id}", summary="Show one dead letter, with its body")
    async def show(call_id: str) -> JSONResponse:
        async with _nats_faults(call_id):
            entry = await found(call_id)
        return JSONResponse(entry_json(entry, whole=True))

    @router.post("/{call_id}/redrive", summary="Queue a dead-lettered call again", status_code=202)
    async def redrive_one(call_id: str) -> JSONResponse:
        async with _nats_faults(call_id):
            await admin.redrive(await found(call_id))
        return JSONResponse({"redriven": [call_id]}, status_code=202)

    @router.delete("/{call_id}", summary="Purge one dead letter")
    async def purge_one(call_id: str) -> JSONResponse:
        async with _nats_faults(call_id):
            await admin.purge(await found(call_id))
        return JSONResponse({"purged": [call_id]})

    return router
