"""Serving prometheus-client's series: one process's, or every process's of a ``faasq up`` stack.

With ``PROMETHEUS_MULTIPROC_DIR`` set when a process starts, prometheus-client keeps its
series in files in that folder, one per process, and :func:`exposition` adds up every
process's, so the gateway's ``/metrics`` shows the workers' runs too. ``faasq up`` empties
the folder at start (:func:`prepare_folder`) and tells it when a child exits
(:func:`process_gone`), so the gauges of live processes only count live ones. Without the
variable, a process serves its own series (on Kubernetes, each pod).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Self

from aiohttp import web
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

__all__ = [
    "CONTENT_TYPE",
    "MULTIPROCESS_VARIABLE",
    "MetricsServer",
    "exposition",
    "prepare_folder",
    "process_gone",
    "shared_folder",
]

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
"""The text exposition format's media type (0.0.4: what every Prometheus reads, as OpenFaaS serves it)."""


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
    body = await asyncio.to_thread(exposition)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


def exposition(extra: Iterable[Metric] = (), environ: Mapping[str, str] = os.environ) -> bytes:
    """The text exposition of every series: the shared folder's (or this process's), then ``extra``."""
    folder = shared_folder(environ)
    if folder is not None and folder.is_dir():
        registry = CollectorRegistry()
        MultiProcessCollector(registry, str(folder))  # type: ignore[no-untyped-call]
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    return body + generate_latest(_Families(extra))
