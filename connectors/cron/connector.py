"""The cron connector: runs functions annotated ``topic: cron-function`` on their ``schedule``.

Each run is one call of one function, with the annotation ``com.faasq.cron.body`` as its body
(empty by default), ``X-Topic: cron-function`` and ``X-Scheduled-Time`` (the fire time, ISO 8601
UTC). Its call id is derived from the function and the fire time, so an async run handed to
the gateway twice is stored once. The overlap policy (:class:`~connectors.cron.schedule.Overlap`)
applies to the calls this connector waits for: a sync call lasts as long as the function runs;
an async one only until the gateway queued it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import ClassVar

from connectors.cron.clock import Clock, SystemClock
from connectors.cron.config import CronSettings
from connectors.cron.schedule import CRON_TOPIC, CronJob, Overlap, cron_jobs
from connectors.cron.timetable import Due, Timetable
from connectors.sdk.connector import Connector
from connectors.sdk.controller import Controller
from connectors.sdk.events import Event

__all__ = ["CronConnector", "overlap_action"]

logger = logging.getLogger(__name__)


def overlap_action(policy: Overlap, running: bool) -> str:
    """``start``, ``skip`` or ``replace``: what a due run does, given whether the last one is still running."""
    if not running or policy is Overlap.ALLOW:
        return "start"
    return "skip" if policy is Overlap.FORBID else "replace"


class CronConnector(Connector[CronSettings]):
    """Runs the schedules of the gateway's functions; reads new and changed ones every ``rebuild_interval``."""

    name: ClassVar[str] = "cron"
    settings_class: ClassVar[type[CronSettings]] = CronSettings

    def __init__(self, settings: CronSettings, clock: Clock | None = None) -> None:
        super().__init__(settings)
        self._clock = clock or SystemClock()
        self._timetable = Timetable(catch_up=settings.catch_up, catch_up_window=settings.catch_up_window)
        self._running: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._reported: dict[str, str] = {}
        self._version = -1

    async def run(self, controller: Controller, stop: asyncio.Event) -> None:
        """Start each due run until ``stop`` is set, then let running calls finish within ``shutdown_grace``."""
        while not stop.is_set():
            now = self._clock.now()
            self._read_jobs(controller, starting=self._version < 0)
            for due in self._timetable.due(now):
                self._start(controller, due)
            wake = self._timetable.next_wake()
            interval = self.settings.rebuild_interval.total_seconds()
            pause = interval if wake is None else min(interval, (wake - self._clock.now()).total_seconds())
            await self._clock.sleep(pause, stop)
        await self._drain()

    def _read_jobs(self, controller: Controller, *, starting: bool) -> None:
        catalog = controller.catalog
        if catalog.version == self._version:
            return
        self._version = catalog.version
        jobs, errors = cron_jobs(catalog.functions, self.settings.topic_delimiter, self.settings.zone)
        for function, error in errors.items():
            if self._reported.get(function) != error:
                logger.error("not scheduling %s: %s", function, error)
        self._reported = errors
        self._timetable.update(jobs, self._clock.now(), starting=starting)
        logger.info("schedules: %s", {job.function: [str(s) for s in job.schedules] for job in jobs} or "(none)")

    def _start(self, controller: Controller, due: Due) -> None:
        job, function = due.job, due.job.function
        if due.scheduled is None:
            logger.warning("%s: dropped %d missed runs of %s (catch_up=false)", function, due.missed, due.schedule)
            return
        if due.missed:
            logger.warning("%s: %d missed runs of %s merged into one", function, due.missed + 1, due.schedule)
        running = self._running.get(function)
        action = overlap_action(job.overlap, running is not None and not running.done())
        if action == "skip":
            logger.warning(
                "%s: skipped the run of %s: the last run is still going (overlap: forbid)",
                function,
                due.scheduled.isoformat(),
            )
            return
        if action == "replace" and running is not None:
            logger.warning(
                "%s: abandoning the running call for the run of %s (overlap: replace)",
                function,
                due.scheduled.isoformat(),
            )
            running.cancel()
        task = asyncio.create_task(self._call(controller, job, due.scheduled.isoformat()))
        self._tasks.add(task)
        if job.overlap is not Overlap.ALLOW:
            self._running[function] = task
        task.add_done_callback(lambda done: self._forget(function, done))

    def _forget(self, function: str, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._running.get(function) is task:
            del self._running[function]

    async def _call(self, controller: Controller, job: CronJob, scheduled: str) -> None:
        event = Event(CRON_TOPIC, job.body, f"{job.function}@{scheduled}", headers=(("X-Scheduled-Time", scheduled),))
        await controller.invoke_functions(event, [job.function])

    async def _drain(self) -> None:
        tasks = [task for task in self._tasks if not task.done()]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=self.settings.shutdown_grace.total_seconds())
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if pending:
            logger.warning("abandoned %d running calls at shutdown", len(pending))
