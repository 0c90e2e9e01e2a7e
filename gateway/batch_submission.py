"""``POST /async-batches/<name>``: a batch of calls to one function, checked whole, then queued item by item.

The body is read as it streams in (:mod:`gateway.batchinput`) and nothing is queued before
every item is checked; then the batch record is created and item ``i`` published as the
call ``<batch-id>-<i>``, a window of publishes in flight at once. 202 only once every item
is stored, else 503 with the stored ranges (see docs/internals.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from starlette.types import Receive, Scope, Send

from calls.batch import BatchRecord, item_call_id, new_batch
from calls.callback_guard import CallbackGuard
from calls.flow import Limits, Priority
from calls.metrics import CallMetrics, NoMetrics, function_label
from calls.retry_settings import RetryOverrides
from calls.wire import DEFAULT_QUEUE, REBUILT_HEADERS, QueuedCall, call_subject
from gateway.batchinput import BatchFormat, ItemLimits, Splitter, Spool, format_of, splitter_for
from gateway.errors import BodyTimeout, Conflict, GatewayError, InvalidRequest, QueueUnavailable
from gateway.functions import Destination, FunctionDirectory
from gateway.jetstream import NatsLink, check_fits
from gateway.stores import Stores
from gateway.validation import (
    RETRY_HEADERS,
    callback_url_of,
    check_batch_id,
    concurrency_key,
    effective_retry,
    function_of,
    priority_of,
    retry_of,
    timing_headers,
)
from plumbing.asgi import send_json
from plumbing.headers import HOP_BY_HOP
from plumbing.tracecontext import TraceContext
from plumbing.tracing import Kind, Tracing

__all__ = ["BatchLimits", "BatchSubmitter", "PartlyQueued", "accepted_ranges", "send_batch_json"]

logger = logging.getLogger(__name__)

_NOT_QUEUED = frozenset(
    {b"content-type", b"x-batch-id", b"x-batch-callback-url", b"traceparent", b"tracestate"}
    | {name.encode() for name in REBUILT_HEADERS}
)


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
    delays: bool = True
    """Whether delayed items are accepted (``message_schedules``)."""


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
    trace: TraceContext | None
    """The caller's trace context; every item's is the batch's span in it."""
    deadline_ns: int = 0
    """``X-Deadline``: every item must have started by then."""
    not_before_ns: int = 0
    """``X-Delay``, ``X-Not-Before``: no item is due before then."""
    limits: Limits | None = None
    """The function's limits, with the batch's ``X-Concurrency-Key``: every item runs under them."""
    priority: Priority = Priority.NORMAL
    """``X-Priority``, or the function's: every item's."""

    def record(self, total: int, created_at: datetime) -> BatchRecord:
        return new_batch(self.batch_id, self.function, self.namespace, total, created_at, self.batch_callback_url)


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


class BatchSubmitter:
    """Serves ``POST /async-batches/<name>``.

    Args:
        directory: each function's queue (unknown functions: 404).
        link: stores items on JetStream.
        stores: the batch records.
        limits: batch bounds; each item is bounded by ``max_item_bytes``.
        max_item_bytes: the largest item (the async body limit in force).
        default_namespace: the namespace of a name without ``.ns``.
        guard: the hosts a callback URL may name.
        metrics: counts batches and the calls they queue.
        tracing: records each submission as a span, the parent of its items' spans.
    """

    def __init__(
        self,
        directory: FunctionDirectory,
        link: NatsLink,
        stores: Stores,
        limits: BatchLimits,
        *,
        max_item_bytes: Callable[[], int],
        default_namespace: str,
        guard: CallbackGuard | None = None,
        metrics: CallMetrics | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self._directory = directory
        self._link = link
        self._stores = stores
        self._limits = limits
        self._max_item_bytes = max_item_bytes
        self._namespace = default_namespace
        self._guard = guard or CallbackGuard()
        self._metrics = metrics or NoMetrics()
        self._tracing = tracing or Tracing("faasq-gateway", {})

    async def __call__(self, name: str, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the whole batch, queue every item, answer 202 (``PartlyQueued`` if JetStream stops part way)."""
        started_ns = time.time_ns()
        submission = await self._submission(name, scope)
        # Every item carries the same headers but its call id: if the first's cannot be queued, none can.
        batch_format = format_of(_header(scope, b"content-type"))
        headers = [*submission.headers, ("content-type", batch_format.item_content_type)]
        first = _item(submission, 0, b"", headers, 0)
        check_fits(first, first.nats_headers(), self._link.max_payload or sys.maxsize)
        limits = ItemLimits(self._max_item_bytes(), self._limits.max_items)
        splitter = splitter_for(batch_format, limits)
        with Spool(limits.max_items) as spool:
            if not await self._read(receive, splitter, spool):
                return
            if spool.count == 0:
                raise InvalidRequest("the batch has no items")
            batch = await self._create(submission.record(spool.count, datetime.fromtimestamp(started_ns / 1e9, UTC)))
            attributes = {"faasq.batch_id": batch.batch_id, "faas.invoked_name": submission.function}
            with self._tracing.start(
                f"batch {submission.function}", submission.trace, Kind.PRODUCER, attributes, started_ns
            ) as span:
                items = replace(submission, trace=span.context)
                await self._publish(items, headers, spool, int(batch.created_at.timestamp() * 1e9))
        label = function_label(submission.function, submission.namespace)
        self._metrics.enqueued(label, submission.destination.queue, spool.count)
        self._metrics.batch(label, "submitted")
        await self._answer_submit(send, batch, with_ids=batch_format is BatchFormat.JSON)

    async def _submission(self, name: str, scope: Scope) -> _Submission:
        function, namespace = function_of(name, self._namespace)
        raw: list[tuple[bytes, bytes]] = scope["headers"]
        watched = {key: value.decode("latin-1") for key, value in raw if key in RETRY_HEADERS}
        batch_id = _header(scope, b"x-batch-id") or str(uuid.uuid4())
        check_batch_id(batch_id, "X-Batch-Id")
        callback_url = self._checked_url(_header(scope, b"x-callback-url"))
        batch_callback_url = self._checked_url(_header(scope, b"x-batch-callback-url"))
        destination = self._directory.cached(function, namespace) or (
            await self._directory.destination_of(function, namespace)
        )
        if destination.annotation_error:
            raise InvalidRequest(destination.annotation_error, function=function)
        retry = effective_retry(retry_of(watched), destination.retry)
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw if k not in _NOT_QUEUED | HOP_BY_HOP]
        trace = TraceContext.parse(_header(scope, b"traceparent"), _header(scope, b"tracestate"))
        due, deadline = timing_headers(
            _header(scope, b"x-delay"),
            _header(scope, b"x-not-before"),
            _header(scope, b"x-deadline"),
            time.time_ns(),
            delays=self._limits.delays,
        )
        key = _header(scope, b"x-concurrency-key")
        limits = destination.limits_for(concurrency_key(key) if key is not None else "")
        priority = priority_of(_header(scope, b"x-priority"), destination.priority)
        return _Submission(
            batch_id,
            function,
            namespace,
            destination,
            retry,
            callback_url,
            batch_callback_url,
            headers,
            trace,
            deadline,
            due,
            limits,
            priority,
        )

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
        store = await self._stores.batches()
        if await store.create(batch):
            return batch
        stored = await store.get(batch.batch_id)
        if stored is not None and (stored[0].function, stored[0].total) == (batch.function, batch.total):
            logger.info("batch %s resent: its items are queued again, each stored once", batch.batch_id)
            return stored[0]
        raise Conflict(f"batch {batch.batch_id} exists with another function or number of items")

    async def _publish(
        self, submission: _Submission, headers: list[tuple[str, str]], spool: Spool, enqueued_at_ns: int
    ) -> None:
        """Publish every item, ``publish_window`` at a time.

        Raises:
            PartlyQueued: JetStream did not store some item (no more are sent after the first failure).
        """
        stored = bytearray(spool.count)
        failures: list[str] = []
        window = asyncio.Semaphore(self._limits.publish_window)
        pacer = _Pacer(self._limits.enqueue_rate)
        prefix = submission.destination.subject

        async def one(index: int, call: QueuedCall) -> None:
            try:
                subject = call_subject(prefix, call.call_id, call.priority)
                await self._link.publish(subject, call, self._limits.enqueue_timeout)
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
                call = _item(submission, index, body, headers, enqueued_at_ns)
                group.create_task(one(index, call))
        if failures:
            raise PartlyQueued(submission.batch_id, failures[0], stored)

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
        await send_batch_json(send, 202, body, batch.batch_id)


class PartlyQueued(QueueUnavailable):
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
        trace=submission.trace,
        deadline_ns=submission.deadline_ns,
        not_before_ns=submission.not_before_ns,
        limits=submission.limits,
        priority=submission.priority,
    )


def _header(scope: Scope, name: bytes) -> str | None:
    return next((value.decode("latin-1") for key, value in scope["headers"] if key == name), None)


async def send_batch_json(send: Send, status: int, body: dict[str, Any], batch_id: str) -> None:
    """Answer ``status`` with ``body`` as JSON and the batch's id in ``X-Batch-Id``."""
    data = json.dumps(body, separators=(",", ":"), default=str).encode()
    await send_json(send, status, data, [(b"x-batch-id", batch_id.encode())])
