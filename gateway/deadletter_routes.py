"""``/system/dead-letters``: faasq's admin routes over the dead-letter stream (list, show, redrive, purge).

Not a hot path, so FastAPI serves them, behind basic auth like all of ``/system/`` (see
:data:`gateway.routes.ROUTES`). Failures are the gateway's own errors, answered as
``{"detail": "..."}`` like FastAPI's: bad filters 400, an unknown call id 404, NATS 503.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import nats.errors
from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from calls.deadletters import DeadLetterEntry
from calls.wire import CALL_ID_PATTERN
from gateway.deadletters import DeadLetterAdmin, Filters
from gateway.errors import DeadLetterNotFound, InvalidRequest, QueueUnavailable
from gateway.routes import DEAD_LETTERS
from plumbing.logs import current_call_id
from provider.types import parse_moment

__all__ = ["DeadLetterRoutes", "dead_letter_filters", "entry_json", "nats_faults"]

logger = logging.getLogger(__name__)

_NAME = re.compile(r"\A[-a-zA-Z_0-9]{1,253}\Z")
_CURSOR = re.compile(r"\A\d{1,19}\Z")

FunctionQuery = Annotated[str | None, Query(description="Only the dead letters of this function.")]
NamespaceQuery = Annotated[str | None, Query(description="Only the dead letters of this namespace.")]
SinceQuery = Annotated[
    str | None, Query(description="Only those given up on since: an RFC 3339 time or a duration back (1h).")
]
LimitQuery = Annotated[int, Query(ge=1, le=1000, description="Most dead letters in this page.")]
CursorQuery = Annotated[str | None, Query(description="The nextCursor of the previous page.")]


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
        # A body too large for a message waits in the body bucket (calls.bodies), not in the dead letter.
        "bodyObject": call.body_object,
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


def dead_letter_filters(function: str | None, namespace: str | None, since: str | None) -> Filters:
    """The filters of a request, its names and time checked (a 400 naming the bad one).

    Raises:
        InvalidRequest: a name is not one, or ``since`` is neither a duration nor a time.
    """
    for label, name in (("function", function), ("namespace", namespace)):
        if name is not None and not _NAME.match(name):
            raise InvalidRequest(f"invalid {label} {name[:260]!r}: use letters, digits, '-' and '_'")
    moment = None
    if since is not None:
        try:
            moment = parse_moment(since, datetime.now(UTC))
        except ValueError as exc:
            raise InvalidRequest(f"invalid since: {exc}") from None
    return Filters(namespace=namespace, function=function, since=moment)


def _cursor(cursor: str | None) -> int:
    if cursor is None:
        return 0
    if not _CURSOR.match(cursor):
        raise InvalidRequest(f"invalid cursor {cursor[:40]!r}: use the nextCursor of the previous page")
    return int(cursor)


@asynccontextmanager
async def nats_faults(call_id: str = "") -> AsyncIterator[None]:
    """NATS failing under a request is a 503 with a message (logged with the call id), never a stack trace."""
    if call_id:
        current_call_id.set(call_id)
    try:
        yield
    except (nats.errors.Error, OSError) as exc:
        raise QueueUnavailable(f"NATS failed: {exc or type(exc).__name__}") from None


class DeadLetterRoutes:
    """The routes of ``/system/dead-letters`` over ``admin``; :meth:`router` mounts them.

    Args:
        admin: reads, redrives and purges dead letters.
    """

    def __init__(self, admin: DeadLetterAdmin) -> None:
        self._admin = admin

    def router(self) -> APIRouter:
        """An ``APIRouter`` with every route."""
        router = APIRouter(prefix=DEAD_LETTERS, tags=["dead letters"])
        router.add_api_route("", self.listing, methods=["GET"], summary="List dead letters, oldest first")
        router.add_api_route(
            "/redrive",
            self.redrive_all,
            methods=["POST"],
            status_code=202,
            summary="Redrive every dead letter that matches",
        )
        router.add_api_route("", self.purge_all, methods=["DELETE"], summary="Purge every dead letter that matches")
        router.add_api_route("/{call_id}", self.show, methods=["GET"], summary="Show one dead letter, with its body")
        router.add_api_route(
            "/{call_id}/redrive",
            self.redrive_one,
            methods=["POST"],
            status_code=202,
            summary="Queue a dead-lettered call again",
        )
        router.add_api_route("/{call_id}", self.purge_one, methods=["DELETE"], summary="Purge one dead letter")
        return router

    async def _found(self, call_id: str) -> DeadLetterEntry:
        if not CALL_ID_PATTERN.match(call_id):
            raise InvalidRequest(
                f"invalid call id {call_id[:140]!r}: use up to 128 letters, digits, '.', '_', ':' or '-'"
            )
        entry = await self._admin.get(call_id)
        if entry is None:
            raise DeadLetterNotFound(f"no dead letter for call {call_id[:140]!r}", call_id=call_id)
        return entry

    async def listing(
        self,
        function: FunctionQuery = None,
        namespace: NamespaceQuery = None,
        since: SinceQuery = None,
        limit: LimitQuery = 100,
        cursor: CursorQuery = None,
    ) -> JSONResponse:
        """``GET``: one page of dead letters, oldest first, and the cursor of the next."""
        filters, after = dead_letter_filters(function, namespace, since), _cursor(cursor)
        async with nats_faults():
            page = await self._admin.page(filters, after=after, limit=limit)
        next_cursor = str(page.cursor) if page.cursor is not None else None
        return JSONResponse({"items": [entry_json(e) for e in page.entries], "nextCursor": next_cursor})

    async def redrive_all(
        self, function: FunctionQuery = None, namespace: NamespaceQuery = None, since: SinceQuery = None
    ) -> JSONResponse:
        """``POST /redrive``: queue every matching dead letter again."""
        redriven = await self._each(dead_letter_filters(function, namespace, since), self._admin.redrive)
        return JSONResponse({"redriven": redriven}, status_code=202)

    async def purge_all(
        self, function: FunctionQuery = None, namespace: NamespaceQuery = None, since: SinceQuery = None
    ) -> JSONResponse:
        """``DELETE``: remove every matching dead letter."""
        return JSONResponse(
            {"purged": await self._each(dead_letter_filters(function, namespace, since), self._admin.purge)}
        )

    async def _each(self, filters: Filters, act: Callable[[DeadLetterEntry], Awaitable[None]]) -> list[str]:
        """``act`` on every dead letter matching ``filters``, oldest first; the call ids acted on."""
        done: list[str] = []
        async with nats_faults():
            for entry in await self._admin.matching(filters):
                current_call_id.set(entry.call.call_id)
                await act(entry)
                done.append(entry.call.call_id)
        return done

    async def show(self, call_id: str) -> JSONResponse:
        """``GET /<call-id>``: one dead letter with its body."""
        async with nats_faults(call_id):
            entry = await self._found(call_id)
        return JSONResponse(entry_json(entry, whole=True))

    async def redrive_one(self, call_id: str) -> JSONResponse:
        """``POST /<call-id>/redrive``: queue one dead letter again."""
        async with nats_faults(call_id):
            await self._admin.redrive(await self._found(call_id))
        return JSONResponse({"redriven": [call_id]}, status_code=202)

    async def purge_one(self, call_id: str) -> JSONResponse:
        """``DELETE /<call-id>``: remove one dead letter."""
        async with nats_faults(call_id):
            await self._admin.purge(await self._found(call_id))
        return JSONResponse({"purged": [call_id]})
