"""``X-Deadline``: an RFC 3339 time or a duration from now, in the future; past it, a call is not run."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from calls.timing import deadline_of, due_of, past_deadline, rfc3339

NOW = int(datetime(2026, 12, 4, 18, 0, tzinfo=UTC).timestamp() * 1e9)
S = 10**9


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", NOW + 90 * S),
        ("15m", NOW + 900 * S),
        (" 1h30m ", NOW + 5400 * S),
        ("2.5", NOW + int(2.5 * S)),
        ("2026-12-04T18:05:00Z", NOW + 300 * S),
        ("2026-12-04T19:05:00+01:00", NOW + 300 * S),
        ("2026-12-04t18:00:01z", NOW + S),
    ],
)
def test_a_deadline_is_a_time_or_a_duration_from_now(text: str, expected: int) -> None:
    assert deadline_of(text, NOW) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("soon", "must be an RFC 3339 time"),
        ("", "must be an RFC 3339 time"),
        ("0s", "must be in the future"),
        ("-5m", "must be in the future"),
        ("2026-12-04T17:59:59Z", "is already past"),
        ("2026-12-04T18:00:00Z", "is already past"),
        ("2026-12-04T19:00:00", "needs a time zone offset"),
        ("2026-13-40T00:00:00Z", "must be an RFC 3339 time"),
    ],
)
def test_a_bad_or_past_deadline_is_refused_naming_the_header(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        deadline_of(text, NOW)
    assert "X-Deadline" in str(raised.value)


def test_a_call_is_late_from_its_deadline_on() -> None:
    assert past_deadline(0, NOW) is None
    assert past_deadline(NOW + 1, NOW) is None
    late = past_deadline(NOW, NOW)
    assert late is not None
    assert late.reason == "deadline 2026-12-04T18:00:00.000Z passed before the call could start"


@pytest.mark.parametrize(
    ("delay", "not_before", "expected"),
    [
        (None, None, 0),
        ("90s", None, NOW + 90 * S),
        ("0", None, 0),  # no delay: at once
        (None, "2026-12-04T18:00:30Z", NOW + 30 * S),
        (None, "15m", NOW + 900 * S),
        (None, "2026-12-04T17:00:00Z", 0),  # a time already past: at once
    ],
)
def test_a_call_is_due_after_its_delay_or_at_its_time(delay: str | None, not_before: str | None, expected: int) -> None:
    assert due_of(delay, not_before, NOW) == expected


@pytest.mark.parametrize(
    ("delay", "not_before", "message"),
    [
        ("soon", None, "X-Delay must be a duration"),
        ("-1s", None, "X-Delay must not be negative"),
        ("1s", "1s", "send X-Delay or X-Not-Before, not both"),
        (None, "tomorrow", "X-Not-Before must be an RFC 3339 time"),
        (None, "2026-12-04T19:00:00", "X-Not-Before needs a time zone offset"),
    ],
)
def test_a_bad_delay_is_refused_naming_its_header(delay: str | None, not_before: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        due_of(delay, not_before, NOW)


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (1_800_000_000_123_000_000, "2027-01-15T08:00:00.123Z"),
        (1_800_000_000_123_000_001, "2027-01-15T08:00:00.124Z"),
        (1_800_000_000_999_000_001, "2027-01-15T08:00:01.000Z"),
    ],
)
def test_a_moment_is_written_in_milliseconds_rounded_up_so_a_schedule_never_fires_early(ns: int, text: str) -> None:
    assert rfc3339(ns) == text
