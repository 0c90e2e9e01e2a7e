"""The series faasq counts, with OpenFaaS's gateway names, and what records them (:class:`CallMetrics`).

The OpenFaaS gateway's series are served under its exact names and labels, so its Grafana
dashboards and its autoscaling rule read faasq's as they read OpenFaaS's. ``function_name``
is always ``<name>.<namespace>``. A queue worker adds its runs to the same series when it
invokes the provider directly (through the gateway, the gateway counts them). The
``faasq_*`` series are the queue's. Label values come only from deployed functions'
names, queue names, status codes and the fixed outcome words below: never from call ids,
paths or anything else a caller chooses.

The series live in prometheus-client's default registry, created once at import; with
``PROMETHEUS_MULTIPROC_DIR`` set before that, every process writes them to that folder and
one scrape adds them up (:mod:`plumbing.metrics`). Records go through
:mod:`plumbing.metrics`'s buffers: a component runs :func:`~plumbing.metrics.flushing`
while it serves. Two series are read when scraped, not
recorded here: ``gateway_service_count`` and ``faasq_queue_pending_calls`` (see
:data:`SCRAPED`).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

from calls.outcome import Failure, Outcome
from plumbing.metrics import Spread, Tally

__all__ = ["SCRAPED", "CallMetrics", "NoMetrics", "function_label", "run_outcome"]

disable_created_metrics()  # type: ignore[no-untyped-call]  # OpenFaaS has no *_created series; nor has faasq

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
"""The Go client's default buckets, which OpenFaaS's ``gateway_functions_seconds`` uses."""
_WAIT = (0.005, 0.025, 0.1, 0.25, 1, 2.5, 10, 30, 60, 300, 900, 3600)
"""Queue waits and callbacks: milliseconds when all is well, up to an hour when the workers fall behind."""

INVOCATIONS = Counter(
    "gateway_function_invocation_total",
    "Function invocations by status code, sync and async (OpenFaaS's gateway series).",
    ["function_name", "code"],
)
DURATIONS = Histogram(
    "gateway_functions_seconds",
    "Seconds function invocations took, sync and async (OpenFaaS's gateway series).",
    ["function_name", "code"],
    buckets=_SECONDS,
)
# OpenFaaS's Go client serves this counter without a _total suffix, which prometheus-client
# only allows a gauge: a gauge that only rises, summed over every process that ever ran.
STARTED = Gauge(
    "gateway_function_invocation_started",
    "Function invocations started, sync and async (OpenFaaS's gateway series).",
    ["function_name"],
    multiprocess_mode="sum",
)
ENQUEUED = Counter(
    "faasq_calls_enqueued_total",
    "Async calls stored on the queue and answered 202 (batch items included).",
    ["function_name", "queue"],
)
QUEUE_WAIT = Histogram(
    "faasq_call_queue_wait_seconds",
    "Seconds from an async call's 202 to the start of its first run.",
    ["function_name", "queue"],
    buckets=_WAIT,
)
SETTLED = Counter(
    "faasq_calls_settled_total",
    "Async calls that left the queue for good: finished, dead-lettered, or cancelled before they ran.",
    ["function_name", "queue"],
)
RUNS = Counter(
    "faasq_call_runs_total",
    "Runs of async calls by outcome: succeeded (status below 400), failed (400 or above), timeout, unreachable.",
    ["function_name", "queue", "outcome"],
)
IN_FLIGHT = Gauge(
    "faasq_call_runs_in_flight",
    "Runs of async calls under way now, across the queue workers.",
    ["function_name", "queue"],
    multiprocess_mode="livesum",
)
RETRIES = Counter(
    "faasq_call_retries_total",
    "Runs of async calls that failed and were scheduled to run again.",
    ["function_name", "queue"],
)
DEAD_LETTERS = Counter(
    "faasq_dead_letters_total",
    "Async calls given up on, by why: function (its runs failed), max-age (too old to run), deadline (not "
    "started by its X-Deadline), retry-budget (failed past its function's retry budget), callback.",
    ["function_name", "queue", "kind"],
)
CALLBACK_SECONDS = Histogram(
    "faasq_callback_duration_seconds",
    "Callbacks by outcome (its _count): delivered, rejected (the receiver answered 4xx), failed (after every "
    "attempt) or refused; seconds from the first POST to the outcome, retries included.",
    ["function_name", "outcome"],
    buckets=_WAIT,
)
BATCHES = Counter(
    "faasq_batches_total",
    "Batches by state: submitted, then succeeded, failed (an item failed or was dead-lettered) or cancelled.",
    ["function_name", "state"],
)

SCRAPED = {
    "gateway_service_count": "Replicas of each function (OpenFaaS's gateway series).",
    "faasq_queue_pending_calls": "Async calls stored on each queue and not yet finished (waiting, running or "
    "waiting to retry), read from JetStream.",
}
"""The gauges the gateway reads when it is scraped, by name, with their help text."""


_STARTED, _INVOCATIONS, _DURATIONS = Tally(STARTED), Tally(INVOCATIONS), Spread(DURATIONS)
_ENQUEUED, _WAITS, _IN_FLIGHT = Tally(ENQUEUED), Spread(QUEUE_WAIT), Tally(IN_FLIGHT)
_RUNS, _RETRIES, _DEAD, _SETTLED = Tally(RUNS), Tally(RETRIES), Tally(DEAD_LETTERS), Tally(SETTLED)
_CALLBACK_SECONDS, _BATCHES = Spread(CALLBACK_SECONDS), Tally(BATCHES)


def function_label(function: str, namespace: str) -> str:
    """``function_name`` as OpenFaaS writes it: ``<name>.<namespace>``."""
    return f"{function}.{namespace}"


def run_outcome(outcome: Outcome) -> str:
    """The ``outcome`` label of a run."""
    if outcome.failure is Failure.TIMEOUT:
        return "timeout"
    if outcome.failure is not None:
        return "unreachable"
    return "succeeded" if (outcome.status or 0) < 400 else "failed"


class CallMetrics:
    """Records calls in the series above; one per process is enough, and any number share them."""

    enabled = True

    def invocation_started(self, function: str) -> None:
        """An invocation of ``function`` (its label) begins."""
        _STARTED.add((function,))

    def invoked(self, function: str, code: int, seconds: float) -> None:
        """An invocation of ``function`` answered ``code`` after ``seconds``."""
        labels = (function, str(code))
        _INVOCATIONS.add(labels)
        _DURATIONS.observe(labels, seconds)

    def enqueued(self, function: str, queue: str, count: int = 1) -> None:
        """``count`` calls to ``function`` were stored on ``queue``."""
        _ENQUEUED.add((function, queue), count)

    def waited(self, function: str, queue: str, seconds: float) -> None:
        """A call's first run started ``seconds`` after its 202."""
        _WAITS.observe((function, queue), seconds)

    def running(self, function: str, queue: str, change: int) -> None:
        """A run starts (+1) or ends (-1)."""
        _IN_FLIGHT.add((function, queue), change)

    def ran(self, function: str, queue: str, outcome: str) -> None:
        """A run ended in ``outcome`` (see :func:`run_outcome`)."""
        _RUNS.add((function, queue, outcome))

    def retried(self, function: str, queue: str) -> None:
        """A failed call will run again."""
        _RETRIES.add((function, queue))

    def settled(self, function: str, queue: str) -> None:
        """A call left the queue for good (its message acknowledged, terminated or deleted)."""
        _SETTLED.add((function, queue))

    def dead_lettered(self, function: str, queue: str, kind: str) -> None:
        """A call was given up on, for ``kind`` of reason."""
        _DEAD.add((function, queue, kind))

    def called_back(self, function: str, outcome: str, seconds: float) -> None:
        """A callback ended in ``outcome`` after ``seconds``."""
        _CALLBACK_SECONDS.observe((function, outcome), seconds)

    def batch(self, function: str, state: str) -> None:
        """A batch was submitted, or finished in ``state``."""
        _BATCHES.add((function, state))


class NoMetrics(CallMetrics):
    """Records nothing (``metrics=false``)."""

    enabled = False

    def invocation_started(self, function: str) -> None:
        """Nothing."""

    def invoked(self, function: str, code: int, seconds: float) -> None:
        """Nothing."""

    def enqueued(self, function: str, queue: str, count: int = 1) -> None:
        """Nothing."""

    def waited(self, function: str, queue: str, seconds: float) -> None:
        """Nothing."""

    def running(self, function: str, queue: str, change: int) -> None:
        """Nothing."""

    def ran(self, function: str, queue: str, outcome: str) -> None:
        """Nothing."""

    def retried(self, function: str, queue: str) -> None:
        """Nothing."""

    def settled(self, function: str, queue: str) -> None:
        """Nothing."""

    def dead_lettered(self, function: str, queue: str, kind: str) -> None:
        """Nothing."""

    def called_back(self, function: str, outcome: str, seconds: float) -> None:
        """Nothing."""

    def batch(self, function: str, state: str) -> None:
        """Nothing."""
