"""The queue's wire format: how an async call travels on JetStream from the gateway to the workers.

One message per call on subject ``<stream>.<queue>.<call-token>`` of stream ``<stream>``
(default ``faas-request``; ``<stream>.<queue>=high.<call-token>`` for a high-priority call,
``=low`` for a low one): a queue's consumer filters ``<stream>.<queue>.>`` (one more consumer
per other priority filters its own), and the call
id in the subject lets anyone find a call still waiting on the queue with one get of the
last message on ``<stream>.*.<call-token>`` (its status before a worker takes it up).
The payload is the request body byte for byte; the call's metadata is in NATS headers,
and ``Nats-Msg-Id`` is the call id so that JetStream drops a resend within its duplicate
window. The call's W3C trace context is in the standard ``traceparent`` and ``tracestate``
headers, where any tracing-aware NATS client looks for it. The streams themselves are
set up by :mod:`calls.streams`.

Every queued call pays for its metadata in the stream and in nats-server's memory, so what
every call has travels in one compact header, ``Faasq-Call`` (see :data:`CALL`), a value equal
to its default is left out, and so are the request headers the worker sets itself
(:data:`REBUILT_HEADERS`); what few calls have (retry overrides, limits, a batch, a deadline,
a priority) has a header of its own. Messages in the older form, one ``Faasq-*`` header per
field, are still read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from calls.flow import PRIORITY, Limits, Priority
from calls.retry_settings import RetryOverrides
from calls.timing import rfc3339
from plumbing.tracecontext import TRACEPARENT, TRACESTATE, TraceContext
from provider.types import DEFAULT_NAMESPACE

__all__ = [
    "BATCH_ID_PATTERN",
    "BODY_OBJECT",
    "CALL_ID_PATTERN",
    "DEFAULT_QUEUE",
    "DEFAULT_STREAM",
    "MSG_ID",
    "QUEUE_ANNOTATION",
    "REBUILT_HEADERS",
    "MalformedCall",
    "QueuedCall",
    "call_subject",
    "call_token",
    "is_scheduled",
    "queue_filters",
    "queue_of",
    "queue_subject",
    "scheduled",
    "waiting_subject",
]

DEFAULT_STREAM = "faas-request"
DEFAULT_QUEUE = "default"
QUEUE_ANNOTATION = "com.openfaas.queue"
CALL_ID_PATTERN = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\Z")
"""A call id: a uuid, or a client's own id of up to 128 safe characters (it is also a NATS header value)."""
BATCH_ID_PATTERN = re.compile(r"\A[A-Za-z0-9](?:[A-Za-z0-9_-]|\.(?=[A-Za-z0-9_-])){0,99}\Z")
"""A batch id: a uuid, or a client's own id of up to 100 characters that a key-value key may hold (no dot at
the end or next to another)."""

_QUEUE_NAME = re.compile(r"\A[A-Za-z0-9_-]{1,64}\Z")

MSG_ID = "Nats-Msg-Id"
CALL = "Faasq-Call"
"""The call's request as a JSON object with short keys, ASCII only: ``f`` function, ``n`` namespace, ``t``
enqueue time (ns since the epoch), ``c`` callback URL, ``h`` headers (``[name, value]`` pairs), ``q`` queue,
``m`` method, ``p`` path, ``s`` query string. A key whose value is the default (namespace ``openfaas-fn``, no
callback, no headers, queue ``default``, ``POST``, ``/``, no query) is left out. The call id is ``Nats-Msg-Id``,
or ``Faasq-Call-Id`` when the message's id is another."""
REBUILT_HEADERS = frozenset({"host", "content-length", "x-call-id", "x-callback-url", "expect"})
"""Request headers (lowercase) not stored with a call: the worker sends its own ``Host`` and ``Content-Length``,
and ``X-Call-Id`` and ``X-Callback-Url`` from the call's id and callback URL; ``Expect: 100-continue`` was
answered by the gateway when the body came."""
# The older form, one header per field.
FUNCTION = "Faasq-Function"
NAMESPACE = "Faasq-Namespace"
METHOD = "Faasq-Method"
PATH = "Faasq-Path"
QUERY = "Faasq-Query"
CALLBACK_URL = "Faasq-Callback-Url"
CALL_ID = "Faasq-Call-Id"
ENQUEUED_AT = "Faasq-Enqueued-At"
HEADERS = "Faasq-Headers"
QUEUE = "Faasq-Queue"
BATCH_ID = "Faasq-Batch-Id"
DEADLINE = "Faasq-Deadline"
NOT_BEFORE = "Faasq-Not-Before"
RUNS = "Faasq-Runs"
BODY_OBJECT = "Faasq-Body-Object"
"""Names the object in the body bucket that holds a body too large for the message (see :mod:`calls.bodies`)."""
SCHEDULE = "Nats-Schedule"
SCHEDULE_TARGET = "Nats-Schedule-Target"
SCHEDULED_PART = "=scheduled"
"""The second token of a delayed call's subject while it waits: no queue is named so (``=`` is not allowed)."""


class MalformedCall(ValueError):
    """A message on the queue that is not a faasq call; it can never succeed, so it is dead-lettered."""


def queue_subject(stream: str, queue: str) -> str:
    """The subject of a queue: its calls are published on ``<stream>.<queue>.<call-token>`` (:func:`call_subject`).

    Raises:
        ValueError: the queue name is not 1-64 letters, digits, ``_`` or ``-``.
    """
    if not _QUEUE_NAME.match(queue):
        raise ValueError(f"invalid queue name {queue!r}: use 1-64 letters, digits, '_' or '-'")
    return f"{stream}.{queue}"


def call_token(call_id: str) -> str:
    """A call id as one subject token (and key-value key).

    A call id may hold ``.``, which splits subject tokens (``a..b`` would be an empty one),
    and ``:``, which a key-value key may not; ``/`` and ``=`` never occur in a call id, so
    mapping ``.`` to ``/`` and ``:`` to ``=`` keeps tokens distinct and readable.
    """
    return call_id.replace(".", "/").replace(":", "=")


def call_subject(queue_prefix: str, call_id: str, priority: Priority = Priority.NORMAL) -> str:
    """The subject of one call on the queue whose subject is ``queue_prefix`` (see :func:`queue_subject`).

    A ``normal`` call's is ``<queue_prefix>.<call-token>``; a ``high`` or ``low`` one's
    ``<queue_prefix>=<priority>.<call-token>``, which the queue's consumer for that priority takes.
    """
    return f"{queue_prefix}{_level(priority)}.{call_token(call_id)}"


def _level(priority: Priority) -> str:
    return "" if priority is Priority.NORMAL else f"={priority.value}"


def waiting_subject(stream: str, call_id: str) -> str:
    """The subject that matches ``call_id``'s message on any queue of ``stream``."""
    return f"{stream}.*.{call_token(call_id)}"


def queue_filters(stream: str, queue: str, priority: Priority = Priority.NORMAL) -> list[str]:
    """The subjects a queue's consumer for ``priority`` takes.

    A ``normal`` one also takes bare ``<stream>.<queue>``, as earlier versions sent.
    """
    subject = queue_subject(stream, queue)
    if priority is not Priority.NORMAL:
        return [f"{subject}{_level(priority)}.>"]
    return [subject, f"{subject}.>"]


@dataclass(frozen=True, slots=True)
class QueuedCall:
    """One async call as stored on the queue."""

    call_id: str
    function: str
    namespace: str
    method: str = "POST"
    path: str = "/"
    query: str = ""
    callback_url: str | None = None
    enqueued_at_ns: int = 0
    queue: str = DEFAULT_QUEUE
    headers: list[tuple[str, str]] = field(default_factory=list)
    """The original request's headers, in order, repeated names kept."""
    body: bytes = b""
    retry: RetryOverrides | None = None
    """The call's own retry settings (request headers over the function's annotations); None: the worker's."""
    batch_id: str | None = None
    """The batch the call is an item of (``POST /async-batches/<name>``), if any."""
    trace: TraceContext | None = None
    """Where the call is in its trace (its ``traceparent`` is not among ``headers``)."""
    deadline_ns: int = 0
    """When the call must have started by (``X-Deadline``), in ns since the epoch; 0: no deadline."""
    not_before_ns: int = 0
    """When the call is due (``X-Delay``, ``X-Not-Before``), in ns since the epoch; 0: at once."""
    limits: Limits | None = None
    """The limits it runs under (its function's annotations, its ``X-Concurrency-Key``), if any."""
    priority: Priority = Priority.NORMAL
    """How soon it starts among the calls waiting with it (``X-Priority``, or its function's annotation)."""
    runs: int = 0
    """Runs made before this message was stored: a call that waited for its limits is stored again, and
    its attempt number is these runs plus JetStream's deliveries of the new message."""
    body_object: str | None = None
    """The object of the body bucket that holds the body, when it is too large for a message (``body`` is then
    empty until the worker reads it back)."""

    @property
    def due_ns(self) -> int:
        """When the call could first run: its enqueue time, or later if it was delayed."""
        return max(self.enqueued_at_ns, self.not_before_ns)

    def nats_headers(self, msg_id: str | None = None) -> dict[str, str]:
        """The NATS headers that carry this call's metadata.

        Args:
            msg_id: the message's ``Nats-Msg-Id`` when it is not the call id (a copy, a retry stored again), or
                ``""`` for none; the call id then has a header of its own.
        """
        headers = {MSG_ID: self.call_id} if msg_id is None else ({MSG_ID: msg_id} if msg_id else {})
        if msg_id is not None:
            headers[CALL_ID] = self.call_id
        headers[CALL] = self._call_header()
        if self.retry is not None:
            headers.update(self.retry.nats_headers())
        if self.batch_id is not None:
            headers[BATCH_ID] = self.batch_id
        if self.trace is not None:
            headers.update(self.trace.headers())
        if self.limits:
            headers.update(self.limits.nats_headers())
        return headers | self._set_only()

    def _call_header(self) -> str:
        """The ``Faasq-Call`` header's value (see :data:`CALL`)."""
        request: dict[str, object] = {"f": self.function, "t": self.enqueued_at_ns}
        if self.namespace != DEFAULT_NAMESPACE:
            request["n"] = self.namespace
        if self.callback_url:
            request["c"] = self.callback_url
        if self.headers:
            request["h"] = self.headers
        if self.queue != DEFAULT_QUEUE:
            request["q"] = self.queue
        if self.method != "POST":
            request["m"] = self.method
        if self.path != "/":
            request["p"] = self.path
        if self.query:
            request["s"] = self.query
        # JSON escapes CR and LF, which a NATS header value must not contain, and anything beyond ASCII.
        return json.dumps(request, separators=(",", ":"))

    def _set_only(self) -> dict[str, str]:
        """The headers of what most calls leave unset."""
        headers = {}
        if self.deadline_ns:
            headers[DEADLINE] = str(self.deadline_ns)
        if self.not_before_ns:
            headers[NOT_BEFORE] = str(self.not_before_ns)
        if self.runs:
            headers[RUNS] = str(self.runs)
        if self.priority is not Priority.NORMAL:
            headers[PRIORITY] = self.priority.value
        if self.body_object is not None:
            headers[BODY_OBJECT] = self.body_object
        return headers

    @classmethod
    def from_message(cls, headers: dict[str, str] | None, body: bytes) -> QueuedCall:
        """Decode a message taken from the queue (either form: see the module's docstring).

        Raises:
            MalformedCall: a required header is missing or a value cannot be decoded.
        """
        call_id = headers.get(CALL_ID) or headers.get(MSG_ID) if headers else None
        if not headers or not call_id or (CALL not in headers and FUNCTION not in headers):
            raise MalformedCall(f"not a faasq call: missing {CALL} or {MSG_ID} header")
        try:
            request = _from_call_header(headers[CALL]) if CALL in headers else _from_older_headers(headers)
            retry = RetryOverrides.from_nats_headers(headers)
            limits = Limits.from_nats_headers(headers)
            deadline = int(headers.get(DEADLINE, "0"))
            not_before = int(headers.get(NOT_BEFORE, "0"))
            runs = int(headers.get(RUNS, "0"))
            priority = Priority.parse(headers[PRIORITY], PRIORITY) if PRIORITY in headers else Priority.NORMAL
        except (ValueError, TypeError, KeyError) as exc:
            raise MalformedCall(f"call {call_id}: undecodable metadata: {exc}") from None
        return cls(
            call_id=call_id,
            function=request.function,
            namespace=request.namespace,
            method=request.method,
            path=request.path,
            query=request.query,
            callback_url=request.callback_url,
            enqueued_at_ns=request.enqueued_at_ns,
            queue=request.queue,
            headers=request.headers,
            body=body,
            retry=retry,
            batch_id=headers.get(BATCH_ID) or None,
            trace=TraceContext.parse(headers.get(TRACEPARENT), headers.get(TRACESTATE)),
            deadline_ns=deadline,
            not_before_ns=not_before,
            limits=limits,
            priority=priority,
            runs=runs,
            body_object=headers.get(BODY_OBJECT) or None,
        )


@dataclass(frozen=True, slots=True)
class _Request:
    """What every call has: the request and where its result goes."""

    function: str
    namespace: str
    enqueued_at_ns: int
    callback_url: str | None
    headers: list[tuple[str, str]]
    queue: str
    method: str
    path: str
    query: str


def _from_call_header(value: str) -> _Request:
    """Decode a ``Faasq-Call`` header.

    Raises:
        ValueError, TypeError, KeyError: it is not the JSON object the header holds.
    """
    fields = json.loads(value)
    if not isinstance(fields, dict):
        raise TypeError(f"{CALL} is not a JSON object")
    return _Request(
        function=_text(fields["f"]),
        namespace=_text(fields.get("n", DEFAULT_NAMESPACE)),
        enqueued_at_ns=_integer(fields.get("t", 0)),
        callback_url=_text(fields.get("c", "")) or None,
        headers=_pairs(fields.get("h", [])),
        queue=_text(fields.get("q", DEFAULT_QUEUE)),
        method=_text(fields.get("m", "POST")),
        path=_text(fields.get("p", "/")) or "/",
        query=_text(fields.get("s", "")),
    )


def _from_older_headers(headers: dict[str, str]) -> _Request:
    """Decode the older form of a call's metadata, one ``Faasq-*`` header per field."""
    return _Request(
        function=headers[FUNCTION],
        namespace=headers.get(NAMESPACE, ""),
        enqueued_at_ns=int(headers.get(ENQUEUED_AT, "0")),
        callback_url=headers.get(CALLBACK_URL) or None,
        headers=_pairs(json.loads(headers.get(HEADERS, "[]"))),
        queue=headers.get(QUEUE, DEFAULT_QUEUE),
        method=headers.get(METHOD, "POST"),
        path=headers.get(PATH, "/") or "/",
        query=headers.get(QUERY, ""),
    )


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{value!r} is not a string")
    return value


def _integer(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{value!r} is not an integer")
    return value


def _pairs(value: object) -> list[tuple[str, str]]:
    if not isinstance(value, list):
        raise TypeError(f"{value!r} is not a list of headers")
    return [(str(name), str(text)) for name, text in value]


def queue_of(annotations: Mapping[str, str] | None) -> str:
    """The queue a function's calls go to: its ``com.openfaas.queue`` annotation, else ``default``."""
    return (annotations or {}).get(QUEUE_ANNOTATION) or DEFAULT_QUEUE


def is_scheduled(subject: str) -> bool:
    """Whether ``subject`` is a delayed call's while it waits (``<stream>.=scheduled.<call-token>``)."""
    return subject.split(".", 2)[1:2] == [SCHEDULED_PART]


def scheduled(call: QueuedCall, target: str, msg_id: str | None = None) -> tuple[str, dict[str, str]]:
    """Where and how to store ``call``, due at ``call.not_before_ns``, so JetStream puts it on ``target`` then.

    The call waits as a message schedule (``Nats-Schedule: @at <time>``) on
    ``<stream>.=scheduled.<call-token>``, which no queue's consumer takes and which
    :func:`waiting_subject` still finds; when it is due, the server publishes its body and
    headers to ``target`` (the call's subject on its queue) and removes the schedule.
    """
    stream, _, rest = target.partition(".")
    token = rest.rpartition(".")[2]
    # The call id in a header of its own too: the message the server publishes when it is due is a copy.
    headers = call.nats_headers(call.call_id if msg_id is None else msg_id) | {
        SCHEDULE: f"@at {rfc3339(call.not_before_ns)}",
        SCHEDULE_TARGET: target,
    }
    return f"{stream}.{SCHEDULED_PART}.{token}", headers
