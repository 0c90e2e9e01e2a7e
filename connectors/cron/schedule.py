"""Cron jobs read from function annotations, and their fire times; pure, with croniter doing the parsing.

A function is a cron job when its ``topic`` includes ``cron-function`` and it has a
``schedule`` (expressions separated by ``;``), run in its time zone with daylight saving
time as Vixie cron handles it (see docs/connectors.md).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from connectors.sdk.topics import Subscriber, topics_of

__all__ = [
    "BODY_ANNOTATION",
    "CRON_TOPIC",
    "OVERLAP_ANNOTATION",
    "SCHEDULE_ANNOTATION",
    "TIMEZONE_ANNOTATION",
    "CronJob",
    "Overlap",
    "Schedule",
    "ScheduleError",
    "cron_jobs",
    "job_of",
    "parse_schedule",
    "zone_of",
]

CRON_TOPIC = "cron-function"
SCHEDULE_ANNOTATION = "schedule"
TIMEZONE_ANNOTATION = "com.faasq.cron.timezone"
OVERLAP_ANNOTATION = "com.faasq.cron.overlap"
BODY_ANNOTATION = "com.faasq.cron.body"

_MACROS = frozenset({"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"})
_FIXED_MACROS = frozenset(_MACROS - {"@hourly"})
_SEPARATORS = (";", "\n")


class ScheduleError(ValueError):
    """A schedule, time zone or overlap policy that cannot be used; the message says which and why."""


class Overlap(enum.StrEnum):
    """What a run due while the previous run of the same function is still going does."""

    ALLOW = "allow"
    """Start it anyway: runs may overlap."""
    FORBID = "forbid"
    """Skip it: a slow function is never started twice."""
    REPLACE = "replace"
    """Stop waiting for the running call (its request is abandoned) and start the new one."""


def zone_of(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (``Europe/Paris``, ``UTC``).

    Raises:
        ScheduleError: no such zone.
    """
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"unknown time zone {name!r}: use an IANA name such as Europe/Paris or UTC") from None


def _repeated(moment: datetime, zone: ZoneInfo) -> bool:
    """Whether ``moment`` is the second occurrence of a wall-clock time repeated by a DST change."""
    wall = moment.replace(tzinfo=None)
    first, second = wall.replace(tzinfo=zone, fold=0), wall.replace(tzinfo=zone, fold=1)
    return first.utcoffset() != second.utcoffset() and moment.utcoffset() == second.utcoffset()


@dataclass(frozen=True)
class Schedule:
    """One cron expression in one time zone.

    Attributes:
        expression: the expression as croniter reads it.
        zone: the time zone it is read in.
        seconds: the expression has a leading seconds field.
        fixed: a fixed time of day (no ``*`` in minute or hour): runs once when DST repeats an hour.
    """

    expression: str
    zone: ZoneInfo
    seconds: bool = False
    fixed: bool = False

    def next_after(self, moment: datetime) -> datetime:
        """The first fire time strictly after ``moment`` (aware), in UTC."""
        fire_times = croniter(self.expression, moment.astimezone(self.zone), second_at_beginning=self.seconds)
        while True:
            candidate: datetime = fire_times.get_next(datetime)
            if not (self.fixed and _repeated(candidate, self.zone)):
                return candidate.astimezone(UTC)

    def __str__(self) -> str:
        return f"{self.expression} ({self.zone.key})"


def _is_fixed(fields: list[str]) -> bool:
    minute, hour = fields[-5], fields[-4]
    return not any(char in field for field in (minute, hour) for char in "*/-,")


def parse_schedule(text: str, zone: ZoneInfo) -> Schedule:
    """One expression: 5 fields, 6 with seconds first, or a macro; an optional ``CRON_TZ=<zone>`` prefix.

    Raises:
        ScheduleError: it is not a valid expression, or names an unknown zone.
    """
    expression = text.strip()
    if expression.startswith(("CRON_TZ=", "TZ=")):
        prefix, _, expression = expression.partition(" ")
        zone = zone_of(prefix.partition("=")[2])
        expression = expression.strip()
    if expression.lower() in _MACROS:
        return Schedule(expression.lower(), zone, fixed=expression.lower() in _FIXED_MACROS)
    fields = expression.split()
    if len(fields) not in (5, 6):
        raise ScheduleError(f"invalid schedule {text.strip()!r}: expected 5 fields, 6 with seconds, or @hourly-style")
    seconds = len(fields) == 6
    if not croniter.is_valid(expression, second_at_beginning=seconds):
        raise ScheduleError(f"invalid schedule {text.strip()!r}: croniter cannot read it")
    return Schedule(" ".join(fields), zone, seconds=seconds, fixed=_is_fixed(fields))


@dataclass(frozen=True)
class CronJob:
    """A function and when it runs.

    Attributes:
        function: the function's name.
        schedules: when it runs; it runs at the union of their fire times.
        overlap: what a run due while the last one is still going does.
        body: the request body of each run.
    """

    function: str
    schedules: tuple[Schedule, ...]
    overlap: Overlap = Overlap.FORBID
    body: bytes = b""


def _overlap(value: str | None) -> Overlap:
    try:
        return Overlap((value or Overlap.FORBID).strip().lower())
    except ValueError:
        choices = ", ".join(policy.value for policy in Overlap)
        raise ScheduleError(f"invalid {OVERLAP_ANNOTATION} {value!r}: use one of {choices}") from None


def job_of(function: str, annotations: Mapping[str, str], default_zone: ZoneInfo) -> CronJob:
    """The cron job of a function with a ``schedule`` annotation.

    Raises:
        ScheduleError: a schedule, the time zone or the overlap policy is invalid.
    """
    zone_name = annotations.get(TIMEZONE_ANNOTATION)
    zone = zone_of(zone_name) if zone_name else default_zone
    raw = annotations.get(SCHEDULE_ANNOTATION, "")
    for separator in _SEPARATORS[1:]:
        raw = raw.replace(separator, _SEPARATORS[0])
    texts = [text for text in raw.split(_SEPARATORS[0]) if text.strip()]
    if not texts:
        raise ScheduleError(f"no schedule: annotation {SCHEDULE_ANNOTATION!r} is missing or empty")
    schedules = tuple(dict.fromkeys(parse_schedule(text, zone) for text in texts))
    body = annotations.get(BODY_ANNOTATION, "").encode()
    return CronJob(function, schedules, _overlap(annotations.get(OVERLAP_ANNOTATION)), body)


def cron_jobs(
    functions: Iterable[Subscriber], delimiter: str, default_zone: ZoneInfo
) -> tuple[list[CronJob], dict[str, str]]:
    """The cron jobs among ``functions``, and function → error for those whose annotations are invalid."""
    jobs: list[CronJob] = []
    errors: dict[str, str] = {}
    for function in functions:
        if CRON_TOPIC not in topics_of(function.annotations, delimiter):
            continue
        try:
            jobs.append(job_of(function.name, function.annotations, default_zone))
        except ScheduleError as exc:
            errors[function.name] = str(exc)
    return jobs, errors
