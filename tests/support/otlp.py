"""A real OTLP/HTTP trace receiver: ``POST /v1/traces`` with protobuf bodies, decoded into the spans they carry.

Serve it with :func:`tests.support.callbacks.serving` (a thread) and point
``OTEL_EXPORTER_OTLP_ENDPOINT`` at its URL.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from starlette.types import Receive, Scope, Send

from tests.support.asgi import request_body

_KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as an exporter sent it; ids are lowercase hex, ``parent_id`` empty for a root."""

    service: str
    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_id: str
    start_ns: int
    end_ns: int
    attributes: dict[str, object]
    error: bool


def _value(value: AnyValue) -> object:
    which = value.WhichOneof("value")
    return getattr(value, which) if which else None


@dataclass
class OtlpReceiver:
    """Records the spans of every export request, answers 200 with an empty response; others get 404."""

    spans: list[ReceivedSpan] = field(default_factory=list)
    requests: int = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        body = await request_body(receive)
        if (scope["method"], scope["path"]) != ("POST", "/v1/traces"):
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        headers = dict(scope["headers"])
        if headers.get(b"content-encoding") == b"gzip":
            body = gzip.decompress(body)
        assert headers.get(b"content-type") == b"application/x-protobuf", headers
        self._record(ExportTraceServiceRequest.FromString(body))
        reply = ExportTraceServiceResponse().SerializeToString()
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/x-protobuf")]}
        )
        await send({"type": "http.response.body", "body": reply})

    def _record(self, request: ExportTraceServiceRequest) -> None:
        self.requests += 1
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.spans.append(
                        ReceivedSpan(
                            service=str(resource.get("service.name", "")),
                            name=span.name,
                            kind=_KINDS[span.kind],
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_id=span.parent_span_id.hex(),
                            start_ns=span.start_time_unix_nano,
                            end_ns=span.end_time_unix_nano,
                            attributes={a.key: _value(a.value) for a in span.attributes},
                            error=span.status.code == 2,
                        )
                    )

    def trace(self, trace_id: str) -> list[ReceivedSpan]:
        """The spans of one trace received so far."""
        return [span for span in list(self.spans) if span.trace_id == trace_id]
