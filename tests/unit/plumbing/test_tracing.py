"""When the standard OpenTelemetry variables turn tracing on; an untraced span is its context and nothing more."""

from __future__ import annotations

import subprocess
import sys

import pytest

from plumbing.tracecontext import TraceContext
from plumbing.tracing import Kind, Tracing, tracing_wanted
from tests.support.paths import ROOT


@pytest.mark.parametrize(
    ("environ", "wanted"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "TRUE"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "false"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "console, otlp"}, True),
        ({"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://c:4318"}, False),
    ],
)
def test_tracing_is_wanted_only_with_an_otlp_endpoint(environ: dict[str, str], wanted: bool) -> None:
    assert tracing_wanted(environ) is wanted


def test_untraced_spans_hand_back_their_parent_and_record_nothing() -> None:
    tracing = Tracing("faasq-test", {})
    parent = TraceContext.start()
    with tracing.start("run f", parent, Kind.CLIENT, {"faasq.attempt": 1}) as span:
        span.set("http.response.status_code", 200)
        span.fail("HTTP 500")
    assert span.context is parent
    tracing.record("queue wait", parent, 1, 2, {})
    tracing.shutdown()
    assert not tracing.enabled


def test_the_sdk_is_not_even_imported_when_tracing_is_off() -> None:
    program = (
        "import sys; from plumbing.tracing import Tracing; from plumbing.tracecontext import TraceContext; "
        "Tracing('t', {}).start('x', TraceContext.start()).end(); "
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout == "[]\n"
