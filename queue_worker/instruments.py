"""Each run of a call measured and traced: an :class:`~queue_worker.invoker.Invoker` around another.

Before the first run of a call, its wait on the queue (from the 202 to now) is observed and
recorded as a span; every run is a span, child of the gateway's enqueue span, whose context
the function gets as its ``traceparent``, and is counted by outcome, with the runs in
flight. With ``counts_invocations`` (the worker invokes the provider directly) runs are also
added to OpenFaaS's gateway series, as OpenFaaS's queue worker, which invokes through the
gateway, has them counted there.
"""

from __future__ import annotations

import time
from dataclasses import replace

from calls.metrics import CallMetrics, function_label, run_outcome
from calls.outcome import Attempt, Outcome
from calls.wire import QueuedCall
from plumbing.tracing import Attributes, Kind, Tracing
from queue_worker.invoker import Invoker

__all__ = ["InstrumentedInvoker"]


class InstrumentedInvoker:
    """Runs calls through ``invoker``, measuring and tracing each run.

    Args:
        invoker: runs the calls.
        metrics: records the runs.
        tracing: records the spans.
        counts_invocations: add the runs to ``gateway_function_invocation_*`` and ``gateway_functions_seconds``.
    """

    def __init__(self, invoker: Invoker, metrics: CallMetrics, tracing: Tracing, *, counts_invocations: bool) -> None:
        self._invoker = invoker
        self._metrics = metrics
        self._tracing = tracing
        self._counts = counts_invocations and metrics.enabled

    async def invoke(self, call: QueuedCall, attempt: Attempt) -> Outcome:
        """Run ``call`` once; the function's ``traceparent`` is this run's span."""
        label = function_label(call.function, call.namespace)
        parent = call.trace
        attributes: Attributes | None = (
            {"faasq.call_id": call.call_id, "faas.invoked_name": call.function, "faasq.attempt": attempt.number}
            if self._tracing.enabled
            else None
        )
        if attempt.number == 1 and call.enqueued_at_ns:  # from the 202, or from when a delayed call was due
            now_ns = time.time_ns()
            self._metrics.waited(label, call.queue, max(0, now_ns - call.due_ns) / 1e9)
            if attributes is not None:
                self._tracing.record("queue wait", parent, call.due_ns, now_ns, attributes)
        if self._counts:
            self._metrics.invocation_started(label)
        with self._tracing.start(f"run {call.function}", parent, Kind.CLIENT, attributes) as span:
            traced = call if span.context is call.trace else replace(call, trace=span.context)
            self._metrics.running(label, call.queue, 1)
            try:
                outcome = await self._invoker.invoke(traced, attempt)
            finally:
                self._metrics.running(label, call.queue, -1)
            span.set("http.response.status_code", outcome.reported_status)
            if outcome.failure is not None or (outcome.status or 0) >= 500:
                span.fail(outcome.summary)
        self._metrics.ran(label, call.queue, run_outcome(outcome))
        if self._counts:
            self._metrics.invoked(label, outcome.reported_status, outcome.duration)
        return outcome
