"""Metrics and traces of a whole ``faasq up`` stack, as an operator sees them: one scrape, one trace per call.

The stack exports its spans to a real OTLP/HTTP receiver on loopback, which decodes the
protobuf; ``/metrics`` is read with prometheus-client's own parser.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.support.callbacks import Callback, Receiver, serving
from tests.support.metrics import Scrape
from tests.support.otlp import OtlpReceiver, ReceivedSpan
from tests.support.paths import ROOT
from tests.support.polling import until
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

STACK = f"""\
provider: {{name: openfaas}}
functions:
  echo: {{fprocess: cat}}
  env: {{fprocess: python3 {ROOT / "examples" / "functions" / "env" / "handler.py"}}}
"""
ECHO = "echo.openfaas-fn"
CALLER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
"""A caller's trace context: trace 4bf9..4736, its span 00f0..02b7, sampled."""


@dataclass
class Observed:
    stack: Stack
    otlp: OtlpReceiver
    receiver: Receiver
    callback: str
    http: httpx.Client

    def scrape(self) -> Scrape:
        response = self.http.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        return Scrape.parse(response.text)

    def callbacks(self, call_id: str, count: int = 1) -> list[Callback]:
        def arrived() -> list[Callback] | None:
            calls = self.receiver.by_call_id().get(call_id, [])
            return calls if len(calls) >= count else None

        return until(arrived, within=20, what=f"the callback of {call_id}")


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    folder = tmp_path_factory.mktemp("observed")
    (folder / "stack.yml").write_text(STACK)
    otlp, receiver = OtlpReceiver(), Receiver()
    with serving(otlp) as collector, serving(receiver) as callback:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector, "OTEL_BSP_SCHEDULE_DELAY": "50"}
        env = {key: value for key, value in {**os.environ, **env}.items() if not key.startswith("OTEL_SERVICE")}
        stack = Stack(folder / "stack.yml", folder / "state", env=env, workers=1)
        try:
            with httpx.Client(base_url=stack.url, timeout=20) as http:
                yield Observed(stack, otlp, receiver, callback, http)
        finally:
            stack.close()


def test_one_scrape_counts_sync_and_async_runs_in_openfaas_series_and_the_queue_in_faasq_series(
    observed: Observed,
) -> None:
    before = observed.scrape()
    for n in range(3):
        assert observed.http.post("/function/echo", content=f"sync {n}").text == f"sync {n}"
    call_ids = []
    for n in range(2):
        accepted = observed.http.post(
            "/async-function/echo", content=f"async {n}", headers={"X-Callback-Url": f"{observed.callback}/cb"}
        )
        assert accepted.status_code == 202
        call_ids.append(accepted.headers["x-call-id"])
    for call_id in call_ids:
        observed.callbacks(call_id)

    def settled() -> Scrape | None:
        # The worker acks after the callback, so pending drops a moment later; and a worker
        # hands its counts over once a second, so they show within a second of the runs.
        scrape = observed.scrape()
        pending = scrape.value("faasq_queue_pending_calls", queue="default")
        delivered = scrape.since(
            before, "faasq_callback_duration_seconds_count", function_name=ECHO, outcome="delivered"
        )
        return scrape if pending == 0 and delivered == 2 else None

    after = until(settled, within=10, what="no call pending")
    # OpenFaaS's gateway series, sync (the gateway's process) and async (the worker's) in one scrape.
    assert after.since(before, "gateway_function_invocation_total", function_name=ECHO, code="200") == 5
    assert after.since(before, "gateway_function_invocation_started", function_name=ECHO) == 5
    assert after.since(before, "gateway_functions_seconds_count", function_name=ECHO, code="200") == 5
    assert 0 < after.since(before, "gateway_functions_seconds_sum", function_name=ECHO, code="200") < 5
    assert after.value("gateway_service_count", function_name=ECHO) == 1
    assert after.value("gateway_service_count", function_name="env.openfaas-fn") == 1
    # faasq's queue series.
    assert after.since(before, "faasq_calls_enqueued_total", function_name=ECHO, queue="default") == 2
    assert after.since(before, "faasq_call_queue_wait_seconds_count", function_name=ECHO, queue="default") == 2
    waited = after.since(before, "faasq_call_queue_wait_seconds_sum", function_name=ECHO, queue="default")
    assert 0 < waited < 10
    assert after.since(before, "faasq_call_runs_total", function_name=ECHO, queue="default", outcome="succeeded") == 2
    assert after.since(before, "faasq_callback_duration_seconds_count", function_name=ECHO, outcome="delivered") == 2
    assert after.value("faasq_call_runs_in_flight", function_name=ECHO, queue="default") == 0
    assert after.types["gateway_function_invocation"] == "counter"
    assert after.types["gateway_functions_seconds"] == "histogram"
    assert after.types["faasq_queue_pending_calls"] == "gauge"
    assert not [name for name in after.names() if name.endswith("_created")]


def test_a_callers_trace_runs_through_the_queue_to_the_function_and_the_callback(observed: Observed) -> None:
    accepted = observed.http.post(
        "/async-function/env",
        content=b"",
        headers={"X-Callback-Url": f"{observed.callback}/traced", "traceparent": CALLER, "tracestate": "congo=t61"},
    )
    assert accepted.status_code == 202
    call_id = accepted.headers["x-call-id"]
    (callback,) = observed.callbacks(call_id)
    trace_id = CALLER.split("-")[1]
    printed = dict(line.split("=", 1) for line in callback.body.decode().splitlines())
    function_parent = printed["Http_Traceparent"].split("-")
    callback_parent = callback.headers["traceparent"].split("-")
    assert (function_parent[1], callback_parent[1]) == (trace_id, trace_id)
    assert (printed["Http_Tracestate"], callback.headers["tracestate"]) == ("congo=t61", "congo=t61")

    def spans() -> dict[str, ReceivedSpan] | None:
        named = {span.name: span for span in observed.otlp.trace(trace_id)}
        return named if {"enqueue env", "queue wait", "run env", "callback"} <= named.keys() else None

    named = until(spans, within=20, what="the call's four spans at the collector")
    enqueue, wait, run, sent = named["enqueue env"], named["queue wait"], named["run env"], named["callback"]
    assert (enqueue.service, enqueue.kind, enqueue.parent_id) == ("faasq-gateway", "producer", "00f067aa0ba902b7")
    for child in (wait, run, sent):
        assert (child.service, child.parent_id) == ("faasq-queue-worker", enqueue.span_id)
        assert child.attributes["faasq.call_id"] == call_id
    assert (run.kind, run.attributes["faasq.attempt"], run.attributes["faas.invoked_name"]) == ("client", 1, "env")
    assert run.attributes["http.response.status_code"] == 200
    assert wait.start_ns == enqueue.start_ns <= wait.end_ns <= run.start_ns <= run.end_ns <= sent.start_ns
    # The function's parent is its run; the receiver's, the callback's POST.
    assert (function_parent[2], callback_parent[2]) == (run.span_id, sent.span_id)


def test_a_sync_call_is_a_span_whose_context_the_function_gets(observed: Observed) -> None:
    printed = observed.http.post("/function/env", headers={"traceparent": CALLER}).text
    parent = dict(line.split("=", 1) for line in printed.splitlines())["Http_Traceparent"].split("-")
    trace_id = CALLER.split("-")[1]
    assert parent[1] == trace_id

    def invoked() -> ReceivedSpan | None:
        return next((s for s in observed.otlp.trace(trace_id) if s.span_id == parent[2]), None)

    span = until(invoked, within=20, what="the sync call's span")
    assert (span.name, span.kind, span.service, span.parent_id) == (
        "invoke env",
        "server",
        "faasq-gateway",
        "00f067aa0ba902b7",
    )
