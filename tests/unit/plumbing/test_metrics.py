"""Buffered recording: what reaches prometheus-client after a flush is what recording straight into it gives."""

from __future__ import annotations

import math

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from plumbing.metrics import Spread, Tally, flush, flushing
from tests.support.polling import eventually

BUCKETS = (0.005, 0.01, 0.1, 1, 10)
VALUES = [0, 0.005, 0.0050001, 0.01, 0.07, 0.1, 1, 3.5, 10, 10.5, 1e9, math.inf, -2]


def exposed(registry: CollectorRegistry) -> list[bytes]:
    """What a scrape shows but the ``_created`` samples: when each child was made, which differs by a few µs."""
    return [line for line in generate_latest(registry).splitlines() if b"_created" not in line]


def histogram(registry: CollectorRegistry) -> Histogram:
    return Histogram("took_seconds", "How long.", ["fn"], buckets=BUCKETS, registry=registry)


def test_a_spread_flushed_is_the_histogram_observed_value_by_value() -> None:
    direct, buffered = CollectorRegistry(), CollectorRegistry()
    observed, spread = histogram(direct), Spread(histogram(buffered))
    for n, value in enumerate(VALUES):
        observed.labels(f"f{n % 3}").observe(value)
        spread.observe((f"f{n % 3}",), value)
    empty = generate_latest(buffered)
    flush()
    assert b"took_seconds_count" not in empty
    assert exposed(buffered) == exposed(direct)
    spread.observe(("f0",), 0.05)  # a second flush adds to the first
    observed.labels("f0").observe(0.05)
    flush()
    assert exposed(buffered) == exposed(direct)


def test_a_tally_adds_up_until_flushed_and_a_gauge_takes_its_net_change() -> None:
    registry = CollectorRegistry()
    counter = Tally(Counter("runs", "Runs.", ["fn", "outcome"], registry=registry))
    gauge = Tally(Gauge("in_flight", "Under way.", ["fn"], registry=registry))
    for _ in range(3):
        counter.add(("echo", "succeeded"))
    counter.add(("echo", "failed"), 2)
    gauge.add(("echo",), 1)
    gauge.add(("echo",), 1)
    gauge.add(("echo",), -1)
    assert registry.get_sample_value("runs_total", {"fn": "echo", "outcome": "succeeded"}) is None
    flush()
    assert registry.get_sample_value("runs_total", {"fn": "echo", "outcome": "succeeded"}) == 3
    assert registry.get_sample_value("runs_total", {"fn": "echo", "outcome": "failed"}) == 2
    assert registry.get_sample_value("in_flight", {"fn": "echo"}) == 1
    gauge.add(("echo",), -1)
    flush()
    assert registry.get_sample_value("in_flight", {"fn": "echo"}) == 0


async def test_flushing_flushes_while_it_runs_and_when_it_ends() -> None:
    registry = CollectorRegistry()
    counter = Tally(Counter("ticks", "Ticks.", ["fn"], registry=registry))
    async with flushing(interval=0.01):
        counter.add(("echo",))

        async def flushed() -> bool | None:
            return True if registry.get_sample_value("ticks_total", {"fn": "echo"}) == 1 else None

        await eventually(flushed, within=5)
        counter.add(("echo",), 2)
    assert registry.get_sample_value("ticks_total", {"fn": "echo"}) == 3
