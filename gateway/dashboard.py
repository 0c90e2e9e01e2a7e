"""What the dashboard (``/ui/``) shows: the stack's numbers now, and over the last 15 minutes.

Every few seconds a :class:`Sampler` reads the counters of every process of the stack (the
same series ``/metrics`` serves) into a :class:`Sample`; the overview compares the latest
with the one a minute or five before, for rates, error rates and queue-wait quantiles, and
the samples of the last 15 minutes are its charts. Replicas and limits come from the
provider's function listing, pending calls and the oldest waiting call from JetStream.
Nothing here is on a hot path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import nats.errors
from nats.js import JetStreamContext
from prometheus_client.metrics_core import Metric

from calls.flow import Priority
from calls.metrics import function_label
from calls.wire import MalformedCall, QueuedCall, queue_filters
from gateway.functions import FunctionLookup
from gateway.metrics import pending_by_queue
from plumbing.metrics import collected, flush
from provider.types import (
    CONCURRENCY_ANNOTATION,
    CONCURRENCY_PER_KEY_ANNOTATION,
    PRIORITY_ANNOTATION,
    RATE_ANNOTATION,
    RATE_BURST_ANNOTATION,
    FunctionStatus,
)

__all__ = ["Overview", "Sample", "Sampler", "quantile"]

logger = logging.getLogger(__name__)

SAMPLE_EVERY = 5.0
"""Seconds between two samples."""
KEPT = 15 * 60
"""Seconds of samples kept: the charts' span."""
_RATE_OVER = 60.0
"""Seconds a rate (calls a second) is measured over."""
_SHARE_OVER = 300.0
"""Seconds an error rate and the queue-wait quantiles are measured over."""
_LIMITS = (
    CONCURRENCY_ANNOTATION,
    CONCURRENCY_PER_KEY_ANNOTATION,
    RATE_ANNOTATION,
    RATE_BURST_ANNOTATION,
    PRIORITY_ANNOTATION,
)
_SCALING = "com.openfaas.scale."


def _zero() -> dict[str, float]:
    return {}


@dataclass(frozen=True, slots=True)
class Sample:
    """The stack's counters at one moment, by ``function_name`` label (``<name>.<namespace>``)."""

    at: float
    runs: dict[str, float] = field(default_factory=_zero)
    """Runs of async calls, and of sync invocations."""
    errors: dict[str, float] = field(default_factory=_zero)
    """Of those, the ones that failed (a status of 400 or more, a timeout, no answer)."""
    enqueued: dict[str, float] = field(default_factory=_zero)
    settled: dict[str, float] = field(default_factory=_zero)
    in_flight: dict[str, float] = field(default_factory=_zero)
    queue_in_flight: dict[str, float] = field(default_factory=_zero)
    queue_settled: dict[str, float] = field(default_factory=_zero)
    dead: dict[str, float] = field(default_factory=_zero)
    waits: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    """Queue-wait histogram of each function: cumulative (upper bound, count) pairs, in order."""

    @classmethod
    def of(cls, families: Iterable[Metric], at: float) -> Sample:
        """The sample of ``families`` (prometheus-client's, as :func:`plumbing.metrics.collected` reads them)."""
        sample = cls(at)
        for family in families:
            reader = _READERS.get(family.name)
            if reader is not None:
                for metric in family.samples:
                    reader(sample, metric.name, metric.labels, metric.value)
        for buckets in sample.waits.values():
            buckets.sort()
        return sample


def _add(into: dict[str, float], key: str, value: float) -> None:
    into[key] = into.get(key, 0.0) + value


def _invocations(sample: Sample, name: str, labels: Mapping[str, str], value: float) -> None:
    if name.endswith("_total"):
        fn = labels.get("function_name", "")
        _add(sample.runs, fn, value)
        if labels.get("code", "200")[:1] not in ("1", "2", "3"):
            _add(sample.errors, fn, value)


def _counter(attribute: str, label: str = "function_name") -> Callable[[Sample, str, Mapping[str, str], float], None]:
    def read(sample: Sample, name: str, labels: Mapping[str, str], value: float) -> None:
        if name.endswith("_total"):
            _add(getattr(sample, attribute), labels.get(label, ""), value)

    return read


def _settled(sample: Sample, name: str, labels: Mapping[str, str], value: float) -> None:
    if name.endswith("_total"):
        _add(sample.settled, labels.get("function_name", ""), value)
        _add(sample.queue_settled, labels.get("queue", ""), value)


def _in_flight(sample: Sample, name: str, labels: Mapping[str, str], value: float) -> None:
    _add(sample.in_flight, labels.get("function_name", ""), value)
    _add(sample.queue_in_flight, labels.get("queue", ""), value)


def _waits(sample: Sample, name: str, labels: Mapping[str, str], value: float) -> None:
    if name.endswith("_bucket"):
        buckets = sample.waits.setdefault(labels.get("function_name", ""), [])
        bound = float(labels.get("le", "+Inf"))
        for index, (le, count) in enumerate(buckets):
            if le == bound:  # the same function on another queue
                buckets[index] = (le, count + value)
                return
        buckets.append((bound, value))


_READERS: dict[str, Callable[[Sample, str, Mapping[str, str], float], None]] = {
    "gateway_function_invocation": _invocations,
    "faasq_calls_enqueued": _counter("enqueued"),
    "faasq_calls_settled": _settled,
    "faasq_call_runs_in_flight": _in_flight,
    "faasq_dead_letters": _counter("dead"),
    "faasq_call_queue_wait_seconds": _waits,
}


def quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """The ``q`` quantile of a cumulative histogram, interpolated in its bucket as Prometheus does; None if empty."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower_bound  # past the last finite bucket: its bound is what is known
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound


def _since(now: list[tuple[float, float]], before: list[tuple[float, float]] | None) -> list[tuple[float, float]]:
    if not before:
        return now
    earlier = dict(before)
    return [(bound, count - earlier.get(bound, 0.0)) for bound, count in now]


class Sampler:
    """Takes a :class:`Sample` every ``every`` seconds and keeps those of the last ``kept`` seconds."""

    def __init__(self, every: float = SAMPLE_EVERY, kept: float = KEPT) -> None:
        self._every = every
        self.samples: deque[Sample] = deque(maxlen=int(kept / every) + 1)

    async def sample(self) -> Sample:
        """A sample now (kept if the last one is older than a period)."""
        flush()  # this process's latest counts, on the loop that records them
        sample = Sample.of(await asyncio.to_thread(collected), time.time())
        if not self.samples or sample.at - self.samples[-1].at >= self._every * 0.9:
            self.samples.append(sample)
        return sample

    async def run(self) -> None:
        """Sample until cancelled."""
        while True:
            try:
                await self.sample()
            except (OSError, ValueError) as exc:  # a process's file half written: next time
                logger.debug("dashboard: no sample this time: %s", exc)
            await asyncio.sleep(self._every)

    def before(self, now: Sample, seconds: float) -> Sample | None:
        """The oldest kept sample at most ``seconds`` before ``now`` (None: none is older than ``now``)."""
        for sample in self.samples:
            if now.at - sample.at <= seconds and sample.at < now.at:
                return sample
        return None

    def series(self) -> dict[str, list[float | None]]:
        """The charts: between each two samples, calls run a second, failed a second, and the median queue wait."""
        at: list[float | None] = []
        throughput: list[float | None] = []
        errors: list[float | None] = []
        wait: list[float | None] = []
        for before, after in pairwise(self.samples):
            span = after.at - before.at
            at.append(round(after.at, 3))
            throughput.append(round(_delta(after.runs, before.runs) / span, 3))
            errors.append(round(_delta(after.errors, before.errors) / span, 3))
            waits = [_since(buckets, before.waits.get(fn)) for fn, buckets in after.waits.items()]
            wait.append(_rounded(quantile(0.5, _merged(waits))))
        return {"at": at, "throughput": throughput, "errors": errors, "waitP50": wait}


def _delta(now: Mapping[str, float], before: Mapping[str, float]) -> float:
    return max(0.0, sum(now.values()) - sum(before.values()))


def _merged(histograms: list[list[tuple[float, float]]]) -> list[tuple[float, float]]:
    total: dict[float, float] = {}
    for buckets in histograms:
        for bound, count in buckets:
            total[bound] = total.get(bound, 0.0) + count
    return sorted(total.items())


def _rounded(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


class Overview:
    """The overview's JSON: every function and every queue, with the charts.

    Args:
        sampler: the samples.
        lookup: the functions, their replicas and annotations.
        jetstream: the calls' JetStream.
        stream: the calls' stream.
        timeout: longest time, in seconds, a part read from elsewhere may take.
    """

    def __init__(
        self, sampler: Sampler, lookup: FunctionLookup, jetstream: Callable[[], JetStreamContext], *, stream: str,
        timeout: float,
    ) -> None:  # fmt: skip
        self._sampler = sampler
        self._lookup = lookup
        self._jetstream = jetstream
        self._stream = stream
        self._timeout = timeout

    async def document(self) -> dict[str, Any]:
        """The overview now."""
        now = await self._sampler.sample()
        functions, queues = await asyncio.gather(self._functions(now), self._queues(now))
        return {"at": now.at, "functions": functions, "queues": queues, "series": self._sampler.series()}

    async def _functions(self, now: Sample) -> list[dict[str, Any]]:
        try:
            async with asyncio.timeout(self._timeout):
                listing = await self._lookup.listing()
        except Exception as exc:  # the provider down: the numbers still show, without replicas
            logger.warning("dashboard: functions not listed: %s", str(exc) or type(exc).__name__)
            listing = []
        minute, five = self._sampler.before(now, _RATE_OVER), self._sampler.before(now, _SHARE_OVER)
        known = {function_label(f.name, f.namespace or ""): f for f in listing}
        labels = sorted(set(known) | {fn for fn in now.runs if fn} | {fn for fn in now.enqueued if fn})
        return [self._function(label, known.get(label), now, minute, five) for label in labels]

    def _function(
        self, label: str, status: FunctionStatus | None, now: Sample, minute: Sample | None, five: Sample | None
    ) -> dict[str, Any]:
        name, _, namespace = label.partition(".")
        runs = now.runs.get(label, 0.0) - (five.runs.get(label, 0.0) if five else 0.0)
        errors = now.errors.get(label, 0.0) - (five.errors.get(label, 0.0) if five else 0.0)
        waits = _since(now.waits.get(label, []), five.waits.get(label) if five else None)
        rate = None
        if minute is not None:
            rate = max(0.0, now.runs.get(label, 0.0) - minute.runs.get(label, 0.0)) / (now.at - minute.at)
        running = now.in_flight.get(label, 0.0)
        annotations = (status.annotations or {}) if status else {}
        labels = (status.labels or {}) if status else {}
        return {
            "name": status.name if status else name,
            "namespace": (status.namespace if status else None) or namespace,
            "deployed": status is not None,
            "replicas": status.replicas if status else None,
            "availableReplicas": status.available_replicas if status else None,
            "invocations": int(now.runs.get(label, 0.0)),
            "rate": _rounded(rate, 3),
            "errorRate": _rounded(errors / runs if runs > 0 else None, 4),
            "queued": int(max(0.0, now.enqueued.get(label, 0.0) - now.settled.get(label, 0.0) - running)),
            "inFlight": int(running),
            "deadLetters": int(now.dead.get(label, 0.0)),
            "waitP50": _rounded(quantile(0.5, waits)),
            "waitP99": _rounded(quantile(0.99, waits)),
            "limits": {name.removeprefix("com.faasq."): annotations[name] for name in _LIMITS if name in annotations},
            "scaling": {k.removeprefix(_SCALING): v for k, v in sorted(labels.items()) if k.startswith(_SCALING)},
        }

    async def _queues(self, now: Sample) -> list[dict[str, Any]]:
        js = self._jetstream()
        try:
            async with asyncio.timeout(self._timeout):
                pending = await pending_by_queue(js, self._stream)
        except (OSError, TimeoutError) as exc:
            logger.warning("dashboard: queues not read: %s", str(exc) or type(exc).__name__)
            pending = {}
        minute = self._sampler.before(now, _RATE_OVER)
        names = sorted(set(pending) | {queue for queue in now.queue_settled if queue})
        oldest = await asyncio.gather(*(self._oldest(js, queue) for queue in names))
        queues = []
        for queue, first in zip(names, oldest, strict=True):
            rate = None
            if minute is not None:
                done = now.queue_settled.get(queue, 0.0) - minute.queue_settled.get(queue, 0.0)
                rate = max(0.0, done) / (now.at - minute.at)
            queues.append({
                "name": queue,
                "pending": pending.get(queue, 0),
                "inFlight": int(now.queue_in_flight.get(queue, 0.0)),
                "throughput": _rounded(rate, 3),
                "oldestWaitingSeconds": _rounded(now.at - first / 1e9, 3) if first else None,
            })  # fmt: skip
        return queues

    async def _oldest(self, js: JetStreamContext, queue: str) -> int | None:
        """When the oldest call still stored on ``queue`` was enqueued (unix ns), of every priority."""
        times = []
        for priority in Priority:
            with contextlib.suppress(nats.errors.Error, TimeoutError, MalformedCall, KeyError, ValueError):
                subject = queue_filters(self._stream, queue, priority)[-1]  # <stream>.<queue>[=<priority>].>
                async with asyncio.timeout(self._timeout):
                    msg = await js.get_msg(self._stream, seq=1, subject=subject, next=True)
                times.append(QueuedCall.from_message(msg.headers, msg.data or b"").due_ns)
        return min(times) if times else None
