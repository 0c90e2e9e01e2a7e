"""When each schedule runs next, and which runs are due now: pure, driven by the clock it is given.

Missed runs (the connector was stopped, suspended, or fell behind) are never fired in bulk:
all the runs of one schedule missed since it was last due merge into a single catch-up run,
or are dropped when ``catch_up`` is off. On start, runs scheduled within ``catch_up_window``
before count as missed, so a restart inside that window fires one catch-up run and no more.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from connectors.cron.schedule import CronJob, Schedule

__all__ = ["Due", "Timetable", "next_run"]

_MAX_COUNTED = 1000  # missed runs counted one by one; past that, the count is a lower bound


@dataclass(frozen=True)
class Due:
    """A run to start now.

    Attributes:
        job: the job.
        schedule: the schedule that is due.
        scheduled: the fire time it stands for (UTC).
        missed: runs of this schedule merged into it (or dropped, when it is None).
    """

    job: CronJob
    schedule: Schedule
    scheduled: datetime | None
    missed: int = 0


def next_run(schedule: Schedule, due: datetime, now: datetime, catch_up: bool) -> tuple[datetime | None, int, datetime]:
    """What to do at ``now`` for a schedule that was next due at ``due``.

    Returns:
        (the fire time to run now, or None; how many fire times were merged or dropped; the next due time).
    """
    if now < due:
        return None, 0, due
    latest, missed = due, 0
    following = schedule.next_after(latest)
    while following <= now and missed < _MAX_COUNTED:
        latest, missed = following, missed + 1
        following = schedule.next_after(latest)
    if following <= now:
        following = schedule.next_after(now)
    if missed == 0:
        return due, 0, following
    return (latest, missed, following) if catch_up else (None, missed + 1, following)


class Timetable:
    """The next due time of every (function, schedule).

    Args:
        catch_up: merge missed runs into one run (True) or drop them (False).
        catch_up_window: on start, runs scheduled this long before count as missed.
    """

    def __init__(self, *, catch_up: bool = True, catch_up_window: timedelta = timedelta(0)) -> None:
        self._catch_up = catch_up
        self._window = catch_up_window
        self._jobs: dict[str, CronJob] = {}
        self._due: dict[tuple[str, Schedule], datetime] = {}

    def update(self, jobs: Iterable[CronJob], now: datetime, *, starting: bool = False) -> None:
        """Take the current jobs; unchanged schedules keep their due time, new ones start from ``now``."""
        self._jobs = {job.function: job for job in jobs}
        since = now - self._window if starting else now
        due = {}
        for job in self._jobs.values():
            for schedule in job.schedules:
                key = (job.function, schedule)
                due[key] = self._due.get(key) or schedule.next_after(since)
        self._due = due

    def due(self, now: datetime) -> list[Due]:
        """The runs to start at ``now`` (or to report as dropped); advances their schedules."""
        found = []
        for (function, schedule), due in list(self._due.items()):
            scheduled, missed, following = next_run(schedule, due, now, self._catch_up)
            self._due[(function, schedule)] = following
            if scheduled is not None or missed:
                found.append(Due(self._jobs[function], schedule, scheduled, missed))
        return found

    def next_wake(self) -> datetime | None:
        """The earliest due time, or None without jobs."""
        return min(self._due.values(), default=None)
