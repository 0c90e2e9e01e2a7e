"""``/ui/``: the dashboard's page, its files, and the JSON it reads.

One page (``gateway/ui/index.html``) serves every dashboard path: overview, calls, a call's
story (``/ui/calls/<call-id>``), dead letters, batches and functions; its script reads the
path and polls ``/ui/api/...``. Every file is in the package: no CDN, no build step. What
the dashboard does it does through the gateway's own API (cancel, redrive, purge, invoke),
and through the few routes here that the API has no form for: the overview, the recent
calls, a call's story, dead letters grouped by reason, and the batches.
Behind basic auth like ``/system/*`` (see :data:`gateway.routes.ROUTES`).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from calls.deadletters import DeadLetterEntry
from calls.status import CallRecord, CallState
from calls.wire import CALL_ID_PATTERN
from gateway.calls import CallLedger
from gateway.dashboard import Overview
from gateway.deadletter_routes import dead_letter_filters, entry_json, nats_faults
from gateway.deadletters import DeadLetterAdmin
from gateway.errors import InvalidRequest
from gateway.recent_calls import RecentCalls
from gateway.routes import UI
from gateway.stores import Stores

__all__ = ["DashboardRoutes", "reason_group", "story"]

_FILES = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}
_PAGES = ("", "calls", "dead-letters", "batches", "functions")
_NO_STORE = {"Cache-Control": "no-store"}
_GROUPED_MOST = 20_000
"""Dead letters read to group them, at most."""

_ID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b|\b[0-9a-f]{16,}\b")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_DECIMAL = re.compile(r"\d+\.\d+|\d{4,}")


def reason_group(reason: str) -> str:
    """``reason`` with what differs from one call to the next left out: ids, quoted text, times and big numbers.

    Small numbers stay (an HTTP status, a number of attempts): ``HTTP 503 after 3 attempts`` and
    ``HTTP 500 after 3 attempts`` are two groups, ``timed out after 10.2s`` and ``... 10.4s`` one.
    """
    return _DECIMAL.sub("#", _QUOTED.sub("'…'", _ID.sub("…", reason)))


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


_Step = tuple[datetime | None, str, str]
_CALLBACKS = {
    "delivered": ("callback delivered", "the result was POSTed to its X-Callback-Url"),
    "retrying": ("callback retrying", "its first POST failed: the callback sender tries again"),
}


def story(record: CallRecord, dead: DeadLetterEntry | None) -> list[dict[str, Any]]:
    """What happened to a call, in order: each step's time, state and what it says."""
    steps: list[_Step] = [(record.enqueued_at, "queued", f"accepted on queue {record.queue!r}")]
    if record.state is CallState.SCHEDULED and record.next_attempt_at:
        steps.append((record.updated_at, "scheduled", f"due at {_iso(record.next_attempt_at)}"))
    if record.started_at is not None:
        of = f" of {record.max_attempts}" if record.max_attempts else ""
        earlier = f", after {record.attempt - 1} failed" if record.attempt > 1 else ""
        steps.append((record.started_at, "running", f"run {record.attempt}{of} started{earlier}"))
    if record.state is CallState.RETRYING:
        why = f"HTTP {record.status_code}" if record.status_code else "failed"
        reason = f": {record.reason}" if record.reason else ""
        steps.append((record.updated_at, "retrying", f"{why}{reason}; next run at {_iso(record.next_attempt_at)}"))
    steps += _end(record, dead)
    return [{"at": _iso(at), "state": state, "text": text} for at, state, text in steps]


def _end(record: CallRecord, dead: DeadLetterEntry | None) -> list[_Step]:
    """How a call ended, if it did, and how its callback went."""
    steps: list[_Step] = []
    if record.state is CallState.DEAD:
        text = f"dead-lettered: {record.reason}" if record.reason else "dead-lettered"
        if dead is not None:
            text = f"dead-lettered ({dead.kind.value}) after {dead.attempts} runs: {dead.reason}"
        steps.append((record.finished_at or record.updated_at, "dead", text))
    elif record.finished_at is not None:
        parts = [f"HTTP {record.status_code}" if record.status_code else record.state.value]
        if record.duration is not None:
            parts.append(f"in {record.duration:.3f}s")
        if record.reason:
            parts.append(f"({record.reason})")
        steps.append((record.finished_at, record.state.value, " ".join(parts)))
    if record.callback_error:
        steps.append((record.updated_at, "callback failed", f"not delivered: {record.callback_error}"))
    elif record.callback in _CALLBACKS:
        steps.append((record.updated_at, *_CALLBACKS[record.callback]))
    return steps


class GroupAction(BaseModel):
    """One group of dead letters: those of a function whose reasons read alike."""

    function: str = Field(min_length=1, max_length=253)
    namespace: str | None = Field(None, max_length=253)
    reason: str = Field(description="The group's reason, as the groups list it.")


class DashboardRoutes:
    """The ``/ui/`` routes.

    Args:
        overview: the overview's numbers.
        recent: the recent calls.
        ledger: a call's status.
        dead_letters: the dead letters.
        stores: the batch records.
    """

    def __init__(
        self, overview: Overview, recent: RecentCalls, ledger: CallLedger, dead_letters: DeadLetterAdmin,
        stores: Stores,
    ) -> None:  # fmt: skip
        self._overview = overview
        self._recent = recent
        self._ledger = ledger
        self._dead_letters = dead_letters
        self._stores = stores
        self._page = resources.files("gateway").joinpath("ui", "index.html").read_bytes()

    def router(self) -> APIRouter:
        """The routes, for ``app.include_router``; none of them in the OpenAPI schema."""
        router = APIRouter(prefix=UI, include_in_schema=False)
        router.add_api_route("", self._to_page, methods=["GET"])
        for page in _PAGES:
            router.add_api_route(f"/{page}", self._index, methods=["GET"])
        router.add_api_route("/calls/{call_id}", self._index, methods=["GET"])
        router.add_api_route("/static/{name}", self._file, methods=["GET"])
        router.add_api_route("/api/overview", self._overview_json, methods=["GET"])
        router.add_api_route("/api/calls", self._calls, methods=["GET"])
        router.add_api_route("/api/calls/{call_id}", self._call, methods=["GET"])
        router.add_api_route("/api/dead-letters/groups", self._groups, methods=["GET"])
        router.add_api_route("/api/dead-letters/groups/redrive", self._redrive_group, methods=["POST"])
        router.add_api_route("/api/dead-letters/groups/purge", self._purge_group, methods=["POST"])
        router.add_api_route("/api/batches", self._batches, methods=["GET"])
        return router

    async def close(self) -> None:
        """Stop watching the status bucket."""
        await self._recent.close()

    async def _to_page(self) -> Response:
        return RedirectResponse(f"{UI}/", status_code=308)

    async def _index(self) -> Response:
        return HTMLResponse(self._page, headers=_NO_STORE)

    async def _file(self, name: str) -> Response:
        if name not in _FILES:
            return JSONResponse({"detail": f"no file {name[:100]!r}"}, status_code=404)
        body = resources.files("gateway").joinpath("ui", name).read_bytes()
        return Response(body, media_type=_FILES[name], headers=_NO_STORE)

    async def _overview_json(self) -> JSONResponse:
        return JSONResponse(await self._overview.document(), headers=_NO_STORE)

    async def _calls(
        self,
        q: Annotated[str, Query(max_length=200, description="Only calls whose id, function or state has this.")] = "",
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> JSONResponse:
        async with nats_faults():
            records = await self._recent.listing(q, limit)
        items = [record.model_dump(mode="json", exclude_none=True, exclude={"result"}) for record in records]
        return JSONResponse({"items": items}, headers=_NO_STORE)

    async def _call(self, call_id: str) -> JSONResponse:
        if not CALL_ID_PATTERN.fullmatch(call_id):
            raise InvalidRequest(f"invalid call id {call_id[:140]!r}")
        async with nats_faults():
            record = await self._ledger.status(call_id)
            if record is None:
                return JSONResponse({"detail": f"no call {call_id!r} is known"}, status_code=404)
            dead = await self._dead_letters.get(call_id) if record.state is CallState.DEAD else None
        document = {
            "record": record.model_dump(mode="json", exclude_none=True),
            "story": story(record, dead),
            "deadLetter": entry_json(dead) if dead is not None else None,
        }
        return JSONResponse(document, headers=_NO_STORE)

    async def _groups(
        self,
        function: Annotated[str | None, Query(max_length=253)] = None,
        since: Annotated[str | None, Query(max_length=64)] = None,
    ) -> JSONResponse:
        filters = dead_letter_filters(function, None, since)
        async with nats_faults():
            entries = await self._dead_letters.matching(filters)
        groups: dict[tuple[str, str, str], dict[str, Any]] = {}
        for entry in entries[-_GROUPED_MOST:]:
            call = entry.call
            key = (call.function, call.namespace, reason_group(entry.reason))
            group = groups.get(key)
            if group is None:
                group = groups[key] = {
                    "function": call.function, "namespace": call.namespace, "reason": key[2],
                    "kinds": [], "count": 0, "firstDeadAt": None, "lastDeadAt": None, "calls": [],
                }  # fmt: skip
            group["count"] += 1
            if entry.kind.value not in group["kinds"]:
                group["kinds"].append(entry.kind.value)
            dead_at = entry_json(entry)["deadAt"]
            group["firstDeadAt"] = group["firstDeadAt"] or dead_at
            group["lastDeadAt"] = dead_at
            if len(group["calls"]) < 5:
                group["calls"].append(call.call_id)
        listed = sorted(groups.values(), key=lambda g: (-g["count"], g["function"], g["reason"]))
        return JSONResponse({"groups": listed, "total": len(entries)}, headers=_NO_STORE)

    async def _redrive_group(self, group: GroupAction) -> JSONResponse:
        return JSONResponse({"redriven": await self._each(group, self._dead_letters.redrive)}, status_code=202)

    async def _purge_group(self, group: GroupAction) -> JSONResponse:
        return JSONResponse({"purged": await self._each(group, self._dead_letters.purge)})

    async def _each(self, group: GroupAction, act: Callable[[DeadLetterEntry], Awaitable[None]]) -> list[str]:
        done = []
        filters = dead_letter_filters(group.function, group.namespace, None)
        async with nats_faults():
            for entry in await self._dead_letters.matching(filters):
                if reason_group(entry.reason) == group.reason:
                    await act(entry)
                    done.append(entry.call.call_id)
        return done

    async def _batches(self, limit: Annotated[int, Query(ge=1, le=200)] = 50) -> JSONResponse:
        async with nats_faults():
            records = await (await self._stores.batches()).recent(limit)
        return JSONResponse({"items": [record.view() for record in records]}, headers=_NO_STORE)
