"""``/async-batches/``: submit a batch of calls to one function, follow it, cancel what has not started.

``POST /async-batches/<name>`` reads the body as it streams in (:mod:`gateway.batchinput`),
checking every item and spooling it, and only then queues anything: a bad item, an unknown
function or too many items is a 4xx with nothing queued. It then creates the batch record
(:mod:`calls.batch`) and publishes item ``i`` as the call ``<batch-id>-<i>``,
``batch_publish_window`` publishes in flight with their acknowledgements awaited together,
at most ``batch_enqueue_rate`` items a second if that is set. Each item is an ordinary call
on the function's queue, with its retries, maximum age, dead letters and status record.

The answer is 202 only once JetStream has stored every item. If it stops storing them part
way, the answer is 503 with the indices that were stored (``accepted``, as ranges): the
batch is incomplete, never silently. Item call ids are their batch id and index, and
``Nats-Msg-Id`` dedups them, so resending the same body with ``X-Batch-Id: <batch-id>``
completes the batch without queuing any item twice (within the duplicate window).

``GET /async-batches/<batch-id>`` answers the counts by state, progress and times;
``?items=<state>`` (e.g. ``failed``) lists those items with their status code and reason,
``limit`` (at most 1,000) at a time from ``offset``. ``DELETE`` cancels every item that has
not started (as ``DELETE /async-calls/<call-id>`` does each one) and answers the counts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote

import nats.errors
from nats.js import JetStreamContext
from starlette.types import Receive, Scope, Send

from calls.batch import BatchRecord, item_call_id, new_batch
from calls.batch_store import BatchStore
from calls.callback_guard import CallbackGuard
from calls.retry_settings import RetryOverrides
from calls.status import CallState
from calls.status_store import StatusConflict
from calls.wire import CALL_ID_PATTERN, DEFAULT_QUEUE, QueuedCall, call_subject
from gateway.batchinput import BatchFormat, ItemLimits, Splitter, Spool, format_of, splitter_for
from gateway.calls import CallLedger
from gateway.errors import BodyTimeout, Conflict, GatewayError, InvalidRequest, QueueUnavailable
from gateway.functions import Destination, FunctionDirectory
from gateway.jetstream import Publisher
from gateway.responses import send_error, send_json
from gateway.validation import RETRY_HEADERS, callback_url_of, effective_retry, function_of, retry_of
from plumbing.asgi import send_text
from plumbing.headers import HOP_BY_HOP

__all__ = ["BATCHES_PREFIX", "BatchLimits", "BatchesRoute", "accepted_ranges"]

logger = logging.getLogger(__name__)

BATCHES_PREFIX = "/async-batches/"
_NOT_QUEUED = frozenset({b"content-length", b"content-type", b"x-call-id", b"x-batch-id", b"x-batch-callback-url"})
_PAGE = 1000
_CANCEL_WINDOW = 64


@dataclass(frozen=True, slots=True)
class BatchLimits:
    """Bounds of one batch.

    Attributes:
        max_items: the most items one batch may have (413 beyond).
        read_timeout: seconds to wait for each part of the body (408 beyond).
        enqueue_timeout: seconds to wait for JetStream's acknowledgement of an item.
        publish_window: items published at once.
        enqueue_rate: most items queued per second (0: no limit).
    """

    max_items: int
    read_timeout: float
    enqueue_timeout: float
    publish_window: int = 256
    enqueue_rate: float = 0.0


@dataclass(frozen=True, slots=True)
class _Submission:
    batch_id: str
    function: str
    namespace: str
    destination: Destination
    retry: RetryOverrides | None
    callback_url: str | None
    batch_callback_url: str | None
    headers: list[tuple[str, str]]


def accepted_ranges(stored: bytearray) -> list[list[int]]:
    """The runs of stored items (``stored[i]`` true) as inclusive ``[first, last]`` index ranges."""
    ranges: list[list[int]] = []
    for index, ok in enumerate(stored):
        if not ok:
            continue
        if ranges and ranges[-1][1] == index - 1:
            ranges[-1][1] = index
        else:
            ranges.append([index, index])
    return ranges


class _Pacer:
    """Spaces out items to at most ``rate`` a second (0: no limit)."""

    def __init__(self, rate: float) -> None:
        self._interval = 1 / rate if rate > 0 else 0.0
        self._next = time.monotonic()

    async def wait(self) -> None:
        if not self._interval:
            return
        self._next = max(self._next + self._interval, time.monotonic())
        if (delay := self._next - time.monotonic()) > 0.001:
            await asyncio.sleep(delay)


class BatchesRoute:
    """ASGI app for ``/async-batches/``.

    Args:
        directory: each function's queue (unknown functions: 404).
        publisher: stores items on JetStream.
        calls: reads and cancels the items' calls.
        jetstream: the JetStream context once connected (the batch records' bucket is opened with it).
        limits: batch bounds; each item is bounded by ``max_item_bytes``.
        max_item_bytes: the largest item (the async body limit in force).
        default_namespace: the namespace of a name without ``.ns``.
        bucket: the batch records' bucket, created at :meth:`startup`.
        guard: the hosts a callback URL may name.
    """

    def __init__(
        self,
        directory: FunctionDirectory,
        publisher: Publisher,
        calls: CallLedger,
        jetstream: Callable[[], JetStreamContext | None],
        limits: BatchLimits,
        *,
        max_item_bytes: Callable[[], int],
        default_namespace: str,
        bucket: str,
        guard: CallbackGuard | None = None,
    ) -> None:
        self._directory = directory
        self._publisher = publisher
        self._calls = calls
        self._jetstream = jetstream
        self._limits = limits
        self._max_item_bytes = max_item_bytes
        self._namespace = default_namespace
        self._bucket = bucket
        self._guard = guard or CallbackGuard()
        self._store: BatchStore | None = None

    async def startup(self) -> None:
        """Create or bind the batch records' bucket (without JetStream, batch requests get 503)."""
        js = self._jetstream()
        if js is not None:
            self._store = await BatchStore.open(js, self._bucket)

    @property
    def store(self) -> BatchStore:
        if self._store is None:
            raise QueueUnavailable("not connected to NATS")
        return self._store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``POST /async-batches/<name>`` submits; ``GET``/``DELETE /async-batches/<batch-id>`` reads or cancels."""
        method: str = scope["method"]
        rest = unquote(scope["path"][len(BATCHES_PREFIX) :])
        handlers = {"POST": self._submit, "GET": self._status, "DELETE": self._cancel}
        if method not in handlers:
            await send_text(send, 405, "Method Not Allowed", [(b"allow", b"GET, POST, DELETE")])
            return
        try:
            await handlers[method](rest, scope, receive, send)
        except _PartlyQueued as exc:
            logger.error("batch %s only partly queued: %s", exc.batch_id, exc)
            body = {"batch_id": exc.batch_id, "error": str(exc), "accepted": accepted_ranges(exc.stored)}
            await _send_json(send, 503, body, exc.batch_id)
        except (GatewayError, StatusConflict, nats.errors.Error, OSError) as exc:
            error = exc if isinstance(exc, GatewayError) else QueueUnavailable(str(exc) or type(exc).__name__)
            failed = not isinstance(exc, GatewayError) or isinstance(exc, QueueUnavailable)
            logger.log(logging.ERROR if failed else logging.INFO, "%s %s: %s", method, scope["path"], error)
            await send_error(send, error)

    # --- submit

    async def _submit(self, name: str, scope: Scope, receive: Receive, send: Send) -> None:
        started_ns = time.time_ns()
        submission = await self._submission(name, scope)
        limits = ItemLimits(self._max_item_bytes(), self._limits.max_items)
        batch_format = format_of(_header(scope, b"content-type"))
        splitter = splitter_for(batch_format, limits)
        with Spool(limits.max_items) as spool:
            if not await self._read(receive, splitter, spool):
                return
            if spool.count == 0:
                raise InvalidRequest("the batch has no items")
            created = datetime.fromtimestamp(started_ns / 1e9, UTC)
            batch = new_batch(
                submission.batch_id, submission.function, submission.namespace, spool.count, created,
                submission.batch_callback_url,
            )  # fmt: skip
            batch = await self._create(batch)
            await self._publish(submission, spool, int(batch.created_at.timestamp() * 1e9))
        await self._answer_submit(send, batch, with_ids=batch_format is BatchFormat.JSON)

    async def _submission(self, name: str, scope: Scope) -> _Submission:
        function, namespace = function_of(name, self._namespace)
        raw: list[tuple[bytes, bytes]] = scope["headers"]
        watched = {key: value.decode("latin-1") for key, value in raw if key in RETRY_HEADERS}
        batch_id = _header(scope, b"x-batch-id") or str(uuid.uuid4())
        if not CALL_ID_PATTERN.match(batch_id) or len(batch_id) > 100:
            raise InvalidRequest(f"invalid X-Batch-Id {batch_id[:110]!r}: use up to 100 letters, digits, '.', '_', '-'")
        callback_url = self._checked_url(_header(scope, b"x-callback-url"))
        batch_callback_url = self._checked_url(_header(scope, b"x-batch-callback-url"))
        destination = self._directory.cached(function, namespace) or (
            await self._directory.destination_of(function, namespace)
        )
        if destination.retry_error:
            raise InvalidRequest(destination.retry_error, function=function)
        retry = effective_retry(retry_of(watched), destination.retry)
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw if k not in _NOT_QUEUED | HOP_BY_HOP]
        return _Submission(batch_id, function, namespace, destination, retry, callback_url, batch_callback_url, headers)

    def _checked_url(self, value: str | None) -> str | None:
        url = callback_url_of(value)
        if url is not None and (refusal := self._guard.refuse_url(url)) is not None:
            raise InvalidRequest(f"callback URL refused: {refusal}")
        return url

    async def _read(self, receive: Receive, splitter: Splitter, spool: Spool) -> bool:
        """Split and spool the whole body; False if the caller went away."""
        while True:
            try:
                async with asyncio.timeout(self._limits.read_timeout):
                    message = await receive()
            except TimeoutError:
                raise BodyTimeout(f"batch body stalled for {self._limits.read_timeout:g}s") from None
            if message["type"] == "http.disconnect":
                logger.info("the caller went away before sending its whole batch; nothing queued")
                return False
            spool.add(splitter.feed(message.get("body", b"")))
            if not message.get("more_body", False):
                spool.add(splitter.finish())
                return True

    async def _create(self, batch: BatchRecord) -> BatchRecord:
        if await self.store.create(batch):
            return batch
        stored = await self.store.get(batch.batch_id)
        if stored is not None and (stored[0].function, stored[0].total) == (batch.function, batch.total):
            logger.info("batch %s resent: its items are queued again, each stored once", batch.batch_id)
            return stored[0]
        raise Conflict(f"batch {batch.batch_id} exists with another function or number of items")

    async def _publish(self, submission: _Submission, spool: Spool, enqueued_at_ns: int) -> None:
        """Publish every item, ``publish_window`` at a time.

        Raises:
            _PartlyQueued: JetStream did not store some item (no more are sent after the first failure).
        """
        stored = bytearray(spool.count)
        failures: list[str] = []
        window = asyncio.Semaphore(self._limits.publish_window)
        pacer = _Pacer(self._limits.enqueue_rate)
        content_type = [("content-type", "application/json")]
        prefix = submission.destination.subject
        headers = submission.headers

        async def one(index: int, call: QueuedCall) -> None:
            try:
                await self._publisher.publish(call_subject(prefix, call.call_id), call, self._limits.enqueue_timeout)
                stored[index] = 1
            except GatewayError as exc:
                failures.append(str(exc))
            finally:
                window.release()

        async with asyncio.TaskGroup() as group:
            for index, body in enumerate(spool.items()):
                await window.acquire()
                if failures:
                    window.release()
                    break
                await pacer.wait()
                call = _item(submission, index, body, headers + content_type, enqueued_at_ns)
                group.create_task(one(index, call))
        if failures:
            raise _PartlyQueued(submission.batch_id, failures[0], stored)

    async def _answer_submit(self, send: Send, batch: BatchRecord, *, with_ids: bool) -> None:
        body: dict[str, Any] = {
            "batch_id": batch.batch_id,
            "function": batch.function,
            "total": batch.total,
            "call_id_format": item_call_id(batch.batch_id, 0)[:-1] + "{index}",
        }
        if with_ids:
            body["call_ids"] = [item_call_id(batch.batch_id, index) for index in range(batch.total)]
        logger.info("batch %s of %d calls to %s queued", batch.batch_id, batch.total, batch.function)
        await _send_json(send, 202, body, batch.batch_id)

    # --- status and cancel

    async def _record(self, batch_id: str) -> BatchRecord | None:
        stored = await self.store.get(batch_id)
        return stored[0] if stored is not None else None

    async def _status(self, batch_id: str, scope: Scope, receive: Receive, send: Send) -> None:
        batch = await self._record(batch_id)
        if batch is None:
            await send_text(send, 404, _unknown(batch_id))
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if "items" not in query:
            await _send_json(send, 200, batch.view(), batch_id)
            return
        await _send_json(send, 200, await self._items(batch, query), batch_id)

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
        batch = await self.store.apply(batch_id, dict.fromkeys(done, CallState.CANCELLED)) or batch
        logger.info("batch %s: %d items cancelled", batch_id, len(done))
        await _send_json(send, 202, batch.view() | {"cancelled": len(done)}, batch_id)


class _PartlyQueued(QueueUnavailable):
    """Some items were stored, then JetStream stopped storing them."""

    def __init__(self, batch_id: str, reason: str, stored: bytearray) -> None:
        super().__init__(f"{reason}; resend the same body with X-Batch-Id: {batch_id} to queue the rest")
        self.batch_id = batch_id
        self.stored = stored


def _item(
    submission: _Submission, index: int, body: bytes, headers: list[tuple[str, str]], enqueued_at_ns: int
) -> QueuedCall:
    return QueuedCall(
        call_id=item_call_id(submission.batch_id, index),
        function=submission.function,
        namespace=submission.namespace,
        callback_url=submission.callback_url,
        enqueued_at_ns=enqueued_at_ns,
        queue=submission.destination.queue or DEFAULT_QUEUE,
        headers=headers,
        body=body,
        retry=submission.retry,
        batch_id=submission.batch_id,
    )


def _header(scope: Scope, name: bytes) -> str | None:
    return next((value.decode("latin-1") for key, value in scope["headers"] if key == name), None)


def _unknown(batch_id: str) -> str:
    return f"batch {batch_id} not found: unknown, or its record has expired"


async def _send_json(send: Send, status: int, body: dict[str, Any], batch_id: str) -> None:
    data = json.dumps(body, separators=(",", ":"), default=str).encode()
    await send_json(send, status, data, [(b"x-batch-id", batch_id.encode())])
