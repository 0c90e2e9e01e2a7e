"""A call's deadline (``X-Deadline``): when it must have started by, else it is not run.

The header is an RFC 3339 time (``2026-12-04T18:00:00Z``) or a duration from now (``90s``,
``15m``, a number of seconds). A deadline already past is refused at enqueue (400); a call
still waiting when its deadline passes is not run but dead-lettered with kind ``deadline``,
and its callback reports ``X-Function-Status: 410``, as an aged-out call's does.
"""

from __future__ import annotations

from datetime import UTC, datetime

from calls.retry_decision import DeadLetter
from provider.types import parse_go_duration

__all__ = ["DEADLINE_HEADER", "deadline_of", "past_deadline"]

DEADLINE_HEADER = "X-Deadline"


def deadline_of(text: str, now_ns: int) -> int:
    """The deadline ``text`` names, in ns since the epoch.

    Raises:
        ValueError: neither an RFC 3339 time with its offset nor a positive duration, or already past.
    """
    value = text.strip()
    try:
        seconds = parse_go_duration(value).total_seconds()
    except ValueError:
        seconds = None
    if seconds is not None:
        if seconds <= 0:
            raise ValueError(f"{DEADLINE_HEADER} must be in the future, got {text!r}")
        return now_ns + int(seconds * 1e9)
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise ValueError(
            f"{DEADLINE_HEADER} must be an RFC 3339 time (2026-12-04T18:00:00Z) or a duration (90s, 15m), got {text!r}"
        ) from None
    if moment.tzinfo is None:
        raise ValueError(f"{DEADLINE_HEADER} needs a time zone offset (Z or +01:00), got {text!r}")
    deadline = int(moment.timestamp() * 1e9)
    if deadline <= now_ns:
        raise ValueError(f"{DEADLINE_HEADER} {text.strip()} is already past")
    return deadline


def past_deadline(deadline_ns: int, now_ns: int) -> DeadLetter | None:
    """A dead letter for a call whose deadline has passed before it could start, else None (0: no deadline)."""
    if deadline_ns <= 0 or now_ns < deadline_ns:
        return None
    moment = datetime.fromtimestamp(deadline_ns / 1e9, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return DeadLetter(reason=f"deadline {moment} passed before the call could start")
