"""``/async-function/<name>[/<path>]``: store the call on JetStream, then answer 202 with its call id.

The hot path, so it is raw ASGI: no routing, no dependency chain. The steps are checks
in pure functions (name, callback URL, call id, length), a cached lookup of the
function's queue, reading the body under a limit, and one publish awaited until
JetStream acknowledges it. Only then is the answer 202; on any failure it is a 4xx or
5xx, and a 503 carries the call id so the caller can resend it without a double run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import time
from dataclasses import dataclass
from typing import BinaryIO, NamedTuple
from urllib.parse import unquote

from starlette.types import Receive, Scope, Send

from calls.callback_guard import CallbackGuard
from calls.flow import Priority
from calls.metrics import CallMetrics, NoMetrics, function_label
from calls.retry_settings import RetryOverrides
from calls.wire import DEFAULT_QUEUE, REBUILT_HEADERS, QueuedCall, call_subject
from gateway.errors import BodyTimeout, BodyTooLarge, GatewayError, InvalidRequest
from gateway.functions import Destination, FunctionDirectory
from gateway.jetstream import NatsLink
from gateway.responses import send_error, status_for
from gateway.routes import ASYNC_FUNCTION
from gateway.validation import (
    RETRY_HEADERS,
    call_id_of,
    callback_url_of,
    check_length,
    concurrency_key,
    effective_retry,
    function_of,
    priority_of,
    retry_of,
    timing_headers,
)
from plumbing.headers import HOP_BY_HOP, end_to_end
from plumbing.logs import current_call_id
from plumbing.tracecontext import TRACEPARENT, TRACESTATE, TraceContext
from plumbing.tracing import Kind, Tracing

__all__ = ["EnqueueLimits", "EnqueueRoute"]

logger = logging.getLogger(__name__)

_PREFIX = (ASYNC_FUNCTION + "/").encode()
_TRACE = frozenset({TRACEPARENT.encode(), TRACESTATE.encode()})
"""Carried as the call's trace context, not among its headers."""
_NOT_STORED = _TRACE | {name.encode() for name in REBUILT_HEADERS}
_KEY, _PRIORITY = b"x-concurrency-key", b"x-priority"
_COMMON = frozenset({b"x-call-id", b"x-callback-url", b"content-length", _KEY, _PRIORITY}) | _TRACE
_DEADLINE, _DELAY, _NOT_BEFORE = b"x-deadline", b"x-delay", b"x-not-before"
_TIMING = frozenset({_DEADLINE, _DELAY, _NOT_BEFORE})
_WATCHED = _COMMON | RETRY_HEADERS.keys() | _TIMING


@dataclass(frozen=True, slots=True)
class EnqueueLimits:
    """Bounds of one async call.

    Attributes:
        max_body_bytes: the largest body accepted (413 beyond).
        read_timeout: seconds to receive the body (408 beyond).
        enqueue_timeout: seconds to wait for JetStream's acknowledgement (503 beyond).
    """

    max_body_bytes: int
    read_timeout: float
    enqueue_timeout: float
    delays: bool = True
    """Whether delayed calls are accepted (``message_schedules``)."""


class _Head(NamedTuple):
    call_id: str
    function: str
    namespace: str
    path: str
    query: str
    callback_url: str | None
    headers: list[tuple[str, str]]
    retry: RetryOverrides | None
    trace: TraceContext | None
    not_before_ns: int
    deadline_ns: int
    concurrency_key: str
    priority: Priority | None


def _headers(raw: list[tuple[bytes, bytes]]) -> tuple[list[tuple[str, str]], dict[bytes, str]]:
    """The headers to queue, and the values of the ones the gateway reads.

    Not queued: hop-by-hop headers, the trace context and those the worker rebuilds.
    """
    kept = end_to_end(raw) if any(key == b"connection" for key, _ in raw) else raw
    headers: list[tuple[str, str]] = []
    watched: dict[bytes, str] = {}
    for key, value in kept:
        # uvicorn lowercases header names; ASGI requires it.
        if key in HOP_BY_HOP:
            continue
        text = value.decode("latin-1")
        if key in _WATCHED:
            watched[key] = text
        if key not in _NOT_STORED:
            headers.append((key.decode("latin-1"), text))
    return headers, watched


def _parse(scope: Scope, default_namespace: str, max_body: int, guard: CallbackGuard, *, delays: bool) -> _Head:
    raw = (scope.get("raw_path") or scope["path"].encode()).partition(b"?")[0]
    name, slash, rest = raw[len(_PREFIX) :].partition(b"/")
    function, namespace = function_of(unquote(name.decode("latin-1")), default_namespace)
    headers, watched = _headers(scope["headers"])
    call_id = call_id_of(watched.get(b"x-call-id"))
    try:
        check_length(watched.get(b"content-length"), max_body)
        callback_url = callback_url_of(watched.get(b"x-callback-url"))
        if callback_url is not None and (refusal := guard.refuse_url(callback_url)) is not None:
            raise InvalidRequest(f"X-Callback-Url refused: {refusal}")
        # Most calls carry no retry header: look for them only when a header beyond the common ones is there.
        retry = None if watched.keys() <= _COMMON else retry_of(watched)
        due, deadline = (
            timing_headers(
                watched.get(_DELAY),
                watched.get(_NOT_BEFORE),
                watched.get(_DEADLINE),
                time.time_ns(),
                delays=delays,
            )
            if not _TIMING.isdisjoint(watched)
            else (0, 0)
        )
        key = concurrency_key(watched[_KEY]) if _KEY in watched else ""
        priority = priority_of(watched[_PRIORITY], Priority.NORMAL) if _PRIORITY in watched else None
    except GatewayError as exc:
        exc.call_id = call_id
        raise
    path = "/" + rest.decode("latin-1") if slash else "/"
    query = scope.get("query_string", b"").decode("latin-1")
    trace = TraceContext.parse(watched.get(b"traceparent"), watched.get(b"tracestate"))
    return _Head(
        call_id, function, namespace, path, query, callback_url, headers, retry, trace, due, deadline, key, priority
    )


def _retry(head: _Head, destination: Destination) -> RetryOverrides | None:
    if destination.annotation_error:
        raise InvalidRequest(destination.annotation_error, function=head.function)
    return effective_retry(head.retry, destination.retry)


def _call(
    head: _Head,
    method: str,
    destination: Destination,
    retry: RetryOverrides | None,
    enqueued_at_ns: int,
    body: bytes,
    trace: TraceContext | None,
) -> QueuedCall:
    return QueuedCall(
        call_id=head.call_id,
        function=head.function,
        namespace=head.namespace,
        method=method,
        path=head.path,
        query=head.query,
        callback_url=head.callback_url,
        enqueued_at_ns=enqueued_at_ns,
        queue=destination.queue or DEFAULT_QUEUE,
        headers=head.headers,
        body=body,
        retry=retry,
        trace=trace,
        deadline_ns=head.deadline_ns,
        not_before_ns=head.not_before_ns,
        limits=destination.limits_for(head.concurrency_key),
        priority=head.priority or destination.priority,
    )


async def _read_body(receive: Receive, limit: int, spill: int) -> bytes | BinaryIO | None:
    """The whole body, or None if the caller went away.

    A body over ``spill`` bytes (one that cannot fit a message) is written to a temporary file
    as it arrives, and the file is returned, at its start, for the caller to close.

    Raises:
        BodyTooLarge: more than ``limit`` bytes arrived.
    """
    body = _Body(spill)
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                body.close()
                return None
            chunk: bytes = message.get("body", b"")
            if body.size + len(chunk) > limit:
                raise BodyTooLarge(f"request body is over the limit of {limit} bytes")
            if not message.get("more_body", False):
                return body.end(chunk)
            body.add(chunk)
    except BaseException:
        body.close()
        raise


class _Body:
    """A request body as it arrives: in memory, or once over ``spill`` bytes, in a temporary file."""

    __slots__ = ("_chunks", "_spill", "file", "size")

    def __init__(self, spill: int) -> None:
        self._spill = spill
        self._chunks: list[bytes] = []
        self.size = 0
        self.file: BinaryIO | None = None

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.file is None and self.size > self._spill:
            self.file = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the caller, or closed on failure
            self.file.writelines(self._chunks)
            self._chunks.clear()
        if self.file is None:
            self._chunks.append(chunk)
        else:
            self.file.write(chunk)  # to the page cache: microseconds for a chunk of the server's size

    def end(self, chunk: bytes) -> bytes | BinaryIO:
        """The whole body, ``chunk`` its last part."""
        if not self._chunks and self.file is None and len(chunk) <= self._spill:
            return chunk  # the usual body: one chunk
        self.add(chunk)
        if self.file is None:
            return b"".join(self._chunks)
        self.file.seek(0)
        return self.file

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


class EnqueueRoute:
    """ASGI app for ``/async-function/<name>[/<path>]``, any method.

    Args:
        directory: each function's queue (unknown functions: 404).
        link: stores calls on JetStream.
        limits: body size and timeouts.
        default_namespace: the namespace of a name without ``.ns``.
        guard: the hosts an ``X-Callback-Url`` may name (by default all but link-local and cloud-metadata ones).
        metrics: counts the calls stored.
        tracing: records each enqueue as a span, the parent of the call's spans in the workers.
    """

    def __init__(
        self,
        directory: FunctionDirectory,
        link: NatsLink,
        limits: EnqueueLimits,
        *,
        default_namespace: str,
        guard: CallbackGuard | None = None,
        metrics: CallMetrics | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self._directory = directory
        self._link = link
        self._limits = limits
        self._namespace = default_namespace
        self._guard = guard or CallbackGuard()
        self._metrics = metrics or NoMetrics()
        self._tracing = tracing or Tracing("faasq-gateway", {})

    @property
    def max_body_bytes(self) -> int:
        """The body limit, ``max_body_bytes``: a body over the NATS server's ``max_payload`` goes to the body bucket."""
        return self._limits.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Queue one call; 202 only once JetStream has it."""
        started_ns = time.time_ns()
        try:
            call = await self._enqueue(scope, receive, started_ns)
        except GatewayError as exc:
            _log_refusal(scope, exc)
            await send_error(send, exc)
            return
        if call is None:
            return
        headers = [
            (b"x-call-id", call.call_id.encode()),
            (b"x-start-time", str(started_ns).encode()),
            (b"content-length", b"0"),
        ]
        await send({"type": "http.response.start", "status": 202, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    async def _enqueue(self, scope: Scope, receive: Receive, started_ns: int) -> QueuedCall | None:
        limit = self.max_body_bytes
        head = _parse(scope, self._namespace, limit, self._guard, delays=self._limits.delays)
        current_call_id.set(head.call_id)
        try:
            destination = self._directory.cached(head.function, head.namespace) or (
                await self._directory.destination_of(head.function, head.namespace)
            )
            retry = _retry(head, destination)
            async with asyncio.timeout(self._limits.read_timeout):
                body = await _read_body(receive, limit, self._link.max_payload or limit)
        except TimeoutError:
            raise BodyTimeout(
                f"request body not received within {self._limits.read_timeout:g}s", call_id=head.call_id
            ) from None
        except GatewayError as exc:
            exc.call_id = head.call_id
            raise
        if body is None:
            logger.info("the caller went away before sending its whole body; nothing queued")
            return None
        queue = destination.queue or DEFAULT_QUEUE
        attributes = _attributes(head, queue) if self._tracing.enabled else None
        in_message, spooled = (body, None) if isinstance(body, bytes) else (b"", body)
        with (
            spooled or contextlib.nullcontext(),
            self._tracing.start(f"enqueue {head.function}", head.trace, Kind.PRODUCER, attributes, started_ns) as span,
        ):
            call = _call(head, scope["method"], destination, retry, started_ns, in_message, span.context)
            subject = call_subject(destination.subject, call.call_id, call.priority)
            receipt = await self._link.publish(subject, call, self._limits.enqueue_timeout, spooled)
        self._metrics.enqueued(function_label(head.function, head.namespace), queue)
        if receipt.duplicate:
            logger.info("call already queued (resent within the duplicate window): stored once")
        return call


def _attributes(head: _Head, queue: str) -> dict[str, str]:
    return {
        "faasq.call_id": head.call_id,
        "faas.invoked_name": head.function,
        "faasq.namespace": head.namespace,
        "faasq.queue": queue,
    }


def _log_refusal(scope: Scope, exc: GatewayError) -> None:
    if exc.call_id:
        current_call_id.set(exc.call_id)
    status = status_for(exc)
    if status >= 500:
        logger.error("async call to %s failed (%d): %s", scope["path"], status, exc)
    else:
        logger.info("async call to %s refused (%d): %s", scope["path"], status, exc)
