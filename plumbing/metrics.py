"""Serving prometheus-client's series: one process's, or every process's of a ``faasq up`` stack.

With ``PROMETHEUS_MULTIPROC_DIR`` set when a process starts, prometheus-client keeps its
series in files in that folder, one per process, and :func:`exposition` adds up every
process's, so the gateway's ``/metrics`` shows the workers' runs too. ``faasq up`` empties
the folder at start (:func:`prepare_folder`) and tells it when a child exits
(:func:`process_gone`), so the gauges of live processes only count live ones. Without the
variable, a process serves its own series (on Kubernetes, each pod).

Recording goes through a buffer (:class:`Tally`, :class:`Spread`): a plain dict per series,
a few hundred nanoseconds a call, where prometheus-client's own ``inc`` and ``observe`` take
a lock and, in multiprocess mode, write a file (0.7 to 1.4 µs each, a dozen a call on the
worker's path). :func:`flush` hands the sums to prometheus-client; :func:`flushing` does it
every second and at exit, and every ``/metrics`` does it first, so a scrape sees its own
process at once and the others within a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from bisect import bisect_left
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from typing import Self

from aiohttp import web
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

__all__ = [
    "CONTENT_TYPE",
    "FLUSH_INTERVAL",
    "MULTIPROCESS_VARIABLE",
    "MetricsServer",
    "Spread",
    "Tally",
    "collected",
    "exposition",
    "flush",
    "flushing",
    "prepare_folder",
    "process_gone",
    "shared_folder",
]

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
"""The text exposition format's media type (0.0.4: what every Prometheus reads, as OpenFaaS serves it)."""
FLUSH_INTERVAL = 1.0
"""Seconds between two flushes of what a process recorded."""

_BUFFERS: list[Tally | Spread] = []


class Tally:
    """A counter or gauge whose changes add up here until :func:`flush`.

    Create one per series, once (at import): every buffer lives as long as the process.
    """

    __slots__ = ("_children", "_metric", "_pending")

    def __init__(self, metric: Counter | Gauge) -> None:
        self._metric = metric
        self._pending: dict[tuple[str, ...], float] = {}
        self._children: dict[tuple[str, ...], Counter | Gauge] = {}
        _BUFFERS.append(self)

    def add(self, values: tuple[str, ...], amount: float = 1) -> None:
        """Add ``amount`` (a gauge's may be negative) to the series labelled ``values``."""
        pending = self._pending
        pending[values] = pending.get(values, 0) + amount

    def flush(self) -> None:
        """Hand what was added since the last flush to prometheus-client."""
        pending, self._pending = self._pending, {}
        for values, amount in pending.items():
            child = self._children.get(values)
            if child is None:
                child = self._children[values] = self._metric.labels(*values)
            child.inc(amount)


class Spread:
    """A histogram whose observations are counted into its buckets here until :func:`flush`."""

    __slots__ = ("_bounds", "_children", "_metric", "_pending")

    def __init__(self, metric: Histogram) -> None:
        self._metric = metric
        self._bounds = tuple(metric._upper_bounds)  # the last is +Inf: every value has a bucket
        self._pending: dict[tuple[str, ...], list[float]] = {}
        self._children: dict[tuple[str, ...], Histogram] = {}
        _BUFFERS.append(self)

    def observe(self, values: tuple[str, ...], amount: float) -> None:
        """Observe ``amount`` in the series labelled ``values``."""
        slot = self._pending.get(values)
        if slot is None:
            slot = self._pending[values] = [0.0] * (len(self._bounds) + 1)
        slot[0] += amount
        slot[bisect_left(self._bounds, amount) + 1] += 1  # the first bucket whose bound is >= amount

    def flush(self) -> None:
        """Hand the observations since the last flush to prometheus-client, as ``observe`` would have."""
        pending, self._pending = self._pending, {}
        for values, (total, *counts) in pending.items():
            child = self._children.get(values)
            if child is None:
                child = self._children[values] = self._metric.labels(*values)
            # prometheus-client keeps a histogram as a sum and one count per bucket (not cumulative),
            # which its observe() adds to one at a time; tests/unit/plumbing/test_metrics.py holds it.
            child._sum.inc(total)
            for bucket, count in zip(child._buckets, counts, strict=True):
                if count:
                    bucket.inc(count)


def flush() -> None:
    """Hand everything this process recorded to prometheus-client (its files, in multiprocess mode)."""
    for buffer in _BUFFERS:
        buffer.flush()


@contextlib.asynccontextmanager
async def flushing(interval: float = FLUSH_INTERVAL) -> AsyncIterator[None]:
    """Flush every ``interval`` seconds while the block runs, and once more when it ends."""

    async def every() -> None:
        while True:
            await asyncio.sleep(interval)
            flush()

    task = asyncio.create_task(every())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        flush()


def shared_folder(environ: Mapping[str, str] = os.environ) -> Path | None:
    """The folder the processes of a stack share their series in, if this process was given one."""
    value = environ.get(MULTIPROCESS_VARIABLE)
    return Path(value) if value else None


def prepare_folder(folder: Path) -> Path:
    """Make ``folder`` empty for a new stack: series of an earlier run would be added to this one's."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def process_gone(folder: Path, pid: int) -> None:
    """Process ``pid`` has exited: its live gauges (runs in flight) stop counting; its counters stay."""
    mark_process_dead(pid, str(folder))  # type: ignore[no-untyped-call]


class _Families:
    """Metric families read at scrape time, served as a collector."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self._families


class MetricsServer:
    """``GET /metrics`` of this process on ``host:port``, for a component with no HTTP server of its own.

    Open it (``async with``); it serves from the event loop until closed.
    """

    def __init__(self, host: str, port: int) -> None:
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_get("/metrics", _serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def _serve(request: web.Request) -> web.Response:
    flush()
    body = await asyncio.to_thread(exposition)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


def exposition(extra: Iterable[Metric] = (), environ: Mapping[str, str] = os.environ) -> bytes:
    """The text exposition of every series: the shared folder's (or this process's), then ``extra``.

    It reads files in multiprocess mode: call it off the event loop, after :func:`flush` on it.
    """
    return generate_latest(_registry(environ)) + generate_latest(_Families(extra))


def collected(environ: Mapping[str, str] = os.environ) -> list[Metric]:
    """Every series as metric families, the shared folder's (or this process's); off the loop, as :func:`exposition`."""
    return list(_registry(environ).collect())


def _registry(environ: Mapping[str, str]) -> CollectorRegistry:
    folder = shared_folder(environ)
    if folder is not None and folder.is_dir():
        registry = CollectorRegistry()
        MultiProcessCollector(registry, str(folder))  # type: ignore[no-untyped-call]
        return registry
    return REGISTRY
