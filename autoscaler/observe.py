"""Each function's load, read from the gateway's ``/metrics`` (the whole stack's series) a scrape at a time.

A scrape gives cumulative counts; :class:`History` keeps the scrapes of the last
``window`` seconds and turns them into :class:`~autoscaler.decision.Signals`:

- invocations per second (every status, and 200s alone) from ``gateway_function_invocation_total``;
- invocations under way: ``gateway_function_invocation_started`` less those finished;
- pending async calls: ``faasq_calls_enqueued_total`` less ``faasq_calls_settled_total``,
  never more than JetStream's ``faasq_queue_pending_calls`` of the function's queue; for a
  function alone on its queue, that count itself (exact, and it survives a restart, which
  resets the counters).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from autoscaler.decision import Signals

__all__ = ["SERIES", "Counts", "History", "Scrape", "parse_scrape"]

SERIES = (
    "gateway_function_invocation_total",
    "gateway_function_invocation_started",
    "faasq_calls_enqueued_total",
    "faasq_calls_settled_total",
    "faasq_queue_pending_calls",
)
"""The series read (each process's, or each pod's, add up)."""


@dataclass
class Counts:
    """One function's cumulative counts in one scrape."""

    invocations: float = 0.0
    successes: float = 0.0
    started: float = 0.0
    enqueued: float = 0.0
    settled: float = 0.0


@dataclass(frozen=True)
class Scrape:
    """What one scrape said, and when (monotonic seconds)."""

    at: float
    counts: dict[str, Counts] = field(default_factory=dict)
    """By ``function_name`` (``<name>.<namespace>``)."""
    pending: dict[str, float] = field(default_factory=dict)
    """By queue."""


def parse_scrape(text: str, at: float) -> Scrape:
    """Read the series the autoscaler needs from a ``/metrics`` text.

    Raises:
        ValueError: the text is not the exposition format.
    """
    scrape = Scrape(at)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels, value = sample.labels, sample.value
            if sample.name == "faasq_queue_pending_calls" and "queue" in labels:
                scrape.pending[labels["queue"]] = value
                continue
            function = labels.get("function_name")
            if function is None or not math.isfinite(value):
                continue
            counts = scrape.counts.setdefault(function, Counts())
            match sample.name:
                case "gateway_function_invocation_total":
                    counts.invocations += value
                    if labels.get("code") == "200":
                        counts.successes += value
                case "gateway_function_invocation_started":
                    counts.started += value
                case "faasq_calls_enqueued_total":
                    counts.enqueued += value
                case "faasq_calls_settled_total":
                    counts.settled += value
    return scrape


class History:
    """The scrapes of the last ``window`` seconds, and the load they show."""

    def __init__(self, window: float) -> None:
        self._window = window
        self._scrapes: deque[Scrape] = deque()

    def add(self, scrape: Scrape) -> None:
        """Keep ``scrape``; forget those older than the window (but the one that spans it)."""
        self._scrapes.append(scrape)
        while len(self._scrapes) > 2 and scrape.at - self._scrapes[1].at >= self._window:
            self._scrapes.popleft()

    def signals(self, function: str, queue: str, *, alone: bool = False) -> Signals:
        """``function``'s load now; rates are 0 until two scrapes are known.

        ``alone``: no other function's calls go to ``queue``, so its pending calls are all this function's.
        """
        if not self._scrapes:
            return Signals()
        newest, oldest = self._scrapes[-1], self._scrapes[0]
        now = newest.counts.get(function, Counts())
        then = oldest.counts.get(function, Counts())
        elapsed = newest.at - oldest.at
        rps = success_rps = 0.0
        if elapsed > 0:  # a counter that went down was reset (a process restarted): no rate from it
            rps = max(0.0, now.invocations - then.invocations) / elapsed
            success_rps = max(0.0, now.successes - then.successes) / elapsed
        pending = max(0.0, now.enqueued - now.settled)
        if queue in newest.pending:
            pending = newest.pending[queue] if alone else min(pending, newest.pending[queue])
        return Signals(
            rps=rps, success_rps=success_rps, in_flight=max(0.0, now.started - now.invocations), pending=pending
        )
