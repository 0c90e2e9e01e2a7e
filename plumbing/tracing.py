"""Spans of a call, exported over OTLP/HTTP by the OpenTelemetry SDK when the standard variables ask for it.

Tracing is on when ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_ENDPOINT``
is set, unless ``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER`` names another
exporter than ``otlp``; the SDK reads the rest of its variables itself (headers, timeout,
``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_BSP_*``). Off, the SDK is not even
imported: :meth:`Tracing.start` hands back the parent's context and costs next to nothing,
so a caller's :class:`~plumbing.tracecontext.TraceContext` still travels end to end; as with
OpenTelemetry's API and no SDK, nothing starts a trace then.

Each component owns one :class:`Tracing` (its own tracer provider, not the global one),
and shuts it down last, which sends the spans still buffered.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from enum import Enum
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from plumbing.tracecontext import TraceContext

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span as OtelSpan
    from opentelemetry.trace import Tracer

__all__ = ["Attributes", "Kind", "Span", "Tracing", "tracing_wanted"]

logger = logging.getLogger(__name__)

Attributes = Mapping[str, str | int | float | bool]


class Kind(Enum):
    """What a span stands for, as OpenTelemetry's span kinds say it."""

    SERVER = "server"
    """Answering a request."""
    CLIENT = "client"
    """A request to another service (a run of the function, a callback)."""
    PRODUCER = "producer"
    """Storing a message for later (enqueue)."""
    CONSUMER = "consumer"
    """Taking a message up (the wait on the queue)."""
    INTERNAL = "internal"
    """Anything else."""


def tracing_wanted(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the standard OpenTelemetry variables ask for spans to be exported over OTLP."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = {name.strip().lower() for name in environ.get("OTEL_TRACES_EXPORTER", "otlp").split(",")}
    if "otlp" not in exporters:
        return False
    return bool(environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


class Span:
    """A span under way; its :attr:`context` is the parent of whatever it calls.

    Use it as a context manager, or call :meth:`end`. Untraced, it is the parent's context
    (None: there is none) and nothing more.
    """

    __slots__ = ("context",)

    def __init__(self, context: TraceContext | None) -> None:
        self.context = context

    def set(self, key: str, value: str | int | float | bool) -> None:
        """Add an attribute."""

    def fail(self, description: str) -> None:
        """Mark the span as failed, saying why."""

    def end(self, end_ns: int | None = None) -> None:
        """End the span now, or at ``end_ns`` (unix nanoseconds)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is not None:
            self.fail(f"{type(exc).__name__}: {exc}")
        self.end()


class _Recorded(Span):
    __slots__ = ("_span",)

    def __init__(self, span: OtelSpan, state: str) -> None:
        own = span.get_span_context()
        super().__init__(TraceContext(f"{own.trace_id:032x}", f"{own.span_id:016x}", int(own.trace_flags), state))
        self._span = span

    def set(self, key: str, value: str | int | float | bool) -> None:
        self._span.set_attribute(key, value)

    def fail(self, description: str) -> None:
        from opentelemetry.trace import Status, StatusCode

        self._span.set_status(Status(StatusCode.ERROR, description))

    def end(self, end_ns: int | None = None) -> None:
        self._span.end(end_time=end_ns)


class Tracing:
    """Starts spans of one component, exported when :func:`tracing_wanted` says so.

    Args:
        service: the component's name (``OTEL_SERVICE_NAME`` overrides it), e.g. ``faasq-gateway``.
        environ: the variables to read.
    """

    def __init__(self, service: str, environ: Mapping[str, str] = os.environ) -> None:
        self._provider: TracerProvider | None = None
        self._tracer: Tracer | None = None
        if tracing_wanted(environ):
            self._provider, self._tracer = _sdk(service, environ)

    @property
    def enabled(self) -> bool:
        """Whether spans are recorded and exported."""
        return self._tracer is not None

    def start(
        self,
        name: str,
        parent: TraceContext | None,
        kind: Kind = Kind.INTERNAL,
        attributes: Attributes | None = None,
        start_ns: int | None = None,
    ) -> Span:
        """A span child of ``parent`` (None: the root of a new trace), started now or at ``start_ns`` (unix ns)."""
        if self._tracer is None:
            return Span(parent)
        from opentelemetry.trace import SpanKind

        span = self._tracer.start_span(
            name,
            context=_remote(parent) if parent is not None else None,
            kind=SpanKind[kind.name],
            attributes=attributes,
            start_time=start_ns,
        )
        return _Recorded(span, parent.state if parent is not None else "")

    def record(
        self, name: str, parent: TraceContext | None, start_ns: int, end_ns: int, attributes: Attributes
    ) -> None:
        """A span that already ended: from ``start_ns`` to ``end_ns``."""
        if self._tracer is not None:
            self.start(name, parent, Kind.CONSUMER, attributes, start_ns).end(end_ns)

    def shutdown(self) -> None:
        """Send the spans still buffered and stop exporting."""
        if self._provider is not None:
            self._provider.shutdown()
            self._provider = self._tracer = None


def _sdk(service: str, environ: Mapping[str, str]) -> tuple[TracerProvider, Tracer]:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # Resource.create reads OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME; its argument wins over them.
    named = {} if environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service}
    provider = TracerProvider(resource=Resource.create(named))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    protocol = environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    if protocol and protocol != "http/protobuf":
        logger.warning("OTEL_EXPORTER_OTLP_PROTOCOL=%s: spans are sent as http/protobuf all the same", protocol)
    logger.info("exporting spans over OTLP/HTTP as %s", provider.resource.attributes.get(SERVICE_NAME))
    return provider, provider.get_tracer("faasq")


def _remote(parent: TraceContext) -> Any:
    """An OpenTelemetry context whose current span is ``parent``, as received from another service."""
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState, set_span_in_context

    state = TraceState.from_header([parent.state]) if parent.state else None
    remote = SpanContext(
        int(parent.trace_id, 16),
        int(parent.span_id, 16),
        is_remote=True,
        trace_flags=TraceFlags(parent.flags),
        trace_state=state,
    )
    return set_span_in_context(NonRecordingSpan(remote))
