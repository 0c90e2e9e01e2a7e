"""A call's times: when it is due (``X-Delay``, ``X-Not-Before``) and when it must have started by (``X-Deadline``).

``X-Delay`` is a duration from now (``90s``, ``15m``, a number of seconds); ``X-Not-Before``
and ``X-Deadline`` are an RFC 3339 time (``2026-12-04T18:00:00Z``) or a duration from now.
A delayed call waits as a JetStream message schedule until it is due. A deadline already
past, or before the call is due, is refused at enqueue (400); a call still waiting when its
deadline passes is not run but dead-lettered with kind ``deadline``, and its callback reports
``X-Function-Status: 410``, as an aged-out call's does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

from calls.retry_decision import DeadLetter
from provider.types import parse_go_duration

__all__ = ["DEADLINE_HEADER", "DELAY_HEADER", "NOT_BEFORE_HEADER", "deadline_of", "due_of", "past_deadline"]

DEADLINE_HEADER = "X-Deadline"
DELAY_HEADER = "X-Delay"
NOT_BEFORE_HEADER = "X-Not-Before"


def deadline_of(text: str, now_ns: int) -> int:
    """The ``X-Deadline`` ``text`` names (a time, or a duration from ``now_ns``), in ns since the epoch.

    Raises:
        ValueError: naming the header: neither an RFC 3339 time with its offset nor a positive
            duration, or already past.
    """
    deadline = _moment(text, now_ns, DEADLINE_HEADER)
    if deadline <= now_ns:
        raise ValueError(f"{DEADLINE_HEADER} {text.strip()} is already past")
    return deadline


def _moment(text: str, now_ns: int, header: str) -> int:
    """The moment ``text`` names: an RFC 3339 time, or a positive duration from ``now_ns``; in ns since the epoch.

    Raises:
        ValueError: naming ``header``: neither an RFC 3339 time with its offset nor a positive duration.
    """
    value = text.strip()
    try:
        seconds = parse_go_duration(value).total_seconds()
    except ValueError:
        seconds = None
    if seconds is not None:
        if seconds <= 0:
            raise ValueError(f"{header} must be in the future, got {text!r}")
        return now_ns + int(seconds * 1e9)
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise ValueError(
            f"{header} must be an RFC 3339 time (2026-12-04T18:00:00Z) or a duration (90s, 15m), got {text!r}"
        ) from None
    if moment.tzinfo is None:
        raise ValueError(f"{header} needs a time zone offset (Z or +01:00), got {text!r}")
    return int(moment.timestamp() * 1e9)


def due_of(delay: str | None, not_before: str | None, now_ns: int) -> int:
    """When a call is due, in ns since the epoch, from its ``X-Delay`` or ``X-Not-Before``; 0: at once.

    Raises:
        ValueError: naming the header: both given, a delay that is not a duration of 0 or more,
            or a time that does not parse.
    """
    if delay is not None and not_before is not None:
        raise ValueError(f"send {DELAY_HEADER} or {NOT_BEFORE_HEADER}, not both")
    if delay is not None:
        try:
            seconds = parse_go_duration(delay.strip()).total_seconds()
        except ValueError:
            raise ValueError(f"{DELAY_HEADER} must be a duration (90s, 15m, 2h30m), got {delay!r}") from None
        if seconds < 0:
            raise ValueError(f"{DELAY_HEADER} must not be negative, got {delay!r}")
        return now_ns + int(seconds * 1e9) if seconds else 0
    if not_before is not None:
        due = _moment(not_before, now_ns, NOT_BEFORE_HEADER)
        return due if due > now_ns else 0  # a time already past: due at once
    return 0


def past_deadline(deadline_ns: int, now_ns: int) -> DeadLetter | None:
    """A dead letter for a call whose deadline has passed before it could start, else None (0: no deadline)."""
    if deadline_ns <= 0 or now_ns < deadline_ns:
        return None
    return DeadLetter(reason=f"deadline {rfc3339(deadline_ns)} passed before the call could start")


def rfc3339(ns: int) -> str:
    """``ns`` (nanoseconds since the epoch) as an RFC 3339 UTC time in milliseconds, rounded up.

    Rounded up so that a schedule due at the result never fires before ``ns``.
    """
    ms = -(-ns // 1_000_000)
    return f"{_second(ms // 1000)}.{ms % 1000:03d}Z"


@lru_cache(maxsize=8)
def _second(seconds: int) -> str:
    """The whole-second part of :func:`rfc3339`: many a second, a worker's held callbacks all share one."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
