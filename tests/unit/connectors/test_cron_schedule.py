"""Cron schedules and the timetable, against a fake clock: parsing, time zones, DST, catch-up, overlap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from connectors.cron.config import CronSettings
from connectors.cron.connector import overlap_action
from connectors.cron.schedule import CronJob, Overlap, ScheduleError, cron_jobs, job_of, parse_schedule
from connectors.cron.timetable import Timetable, next_run
from connectors.sdk import Subscriber

UTC_ZONE = ZoneInfo("UTC")
PARIS = ZoneInfo("Europe/Paris")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_five_six_field_and_macro_expressions() -> None:
    assert parse_schedule("*/5 * * * *", UTC_ZONE).next_after(at("2024-01-01T00:01:00Z")) == at("2024-01-01T00:05:00Z")
    seconds = parse_schedule("*/10 * * * * *", UTC_ZONE)
    assert seconds.seconds
    assert seconds.next_after(at("2024-01-01T00:00:01Z")) == at("2024-01-01T00:00:10Z")
    assert parse_schedule("@hourly", UTC_ZONE).next_after(at("2024-01-01T00:30:00Z")) == at("2024-01-01T01:00:00Z")
    assert parse_schedule("@DAILY", UTC_ZONE).fixed


@pytest.mark.parametrize("text", ["61 * * * *", "* * * *", "* * * * * * *", "@reboot", "H * * * *", ""])
def test_invalid_expressions_are_refused(text: str) -> None:
    with pytest.raises(ScheduleError, match="invalid schedule"):
        parse_schedule(text, UTC_ZONE)


def test_a_time_zone_moves_the_fire_time() -> None:
    nine = parse_schedule("0 9 * * *", ZoneInfo("Asia/Tokyo"))
    assert nine.next_after(at("2024-01-01T00:30:00Z")) == at("2024-01-02T00:00:00Z")
    prefixed = parse_schedule("CRON_TZ=Asia/Tokyo 0 9 * * *", UTC_ZONE)
    assert prefixed.zone.key == "Asia/Tokyo"
    with pytest.raises(ScheduleError, match="unknown time zone 'Mars/Olympus'"):
        parse_schedule("CRON_TZ=Mars/Olympus 0 9 * * *", UTC_ZONE)


def test_dst_a_skipped_time_runs_after_the_change_and_a_repeated_time_runs_once() -> None:
    half_past_two = parse_schedule("30 2 * * *", PARIS)
    assert half_past_two.next_after(at("2024-03-30T12:00:00+01:00")) == at("2024-03-31T03:00:00+02:00")
    first = half_past_two.next_after(at("2024-10-26T12:00:00+02:00"))
    assert first == at("2024-10-27T02:30:00+02:00")
    assert half_past_two.next_after(first) == at("2024-10-28T02:30:00+01:00")
    every_half_hour = parse_schedule("*/30 * * * *", PARIS)
    assert every_half_hour.next_after(at("2024-10-27T02:30:00+02:00")) == at("2024-10-27T02:00:00+01:00")


def test_a_job_reads_several_schedules_zone_overlap_and_body() -> None:
    annotations = {
        "schedule": "0 * * * *; */5 * * * * *\n@daily",
        "com.faasq.cron.timezone": "Europe/Paris",
        "com.faasq.cron.overlap": "Replace",
        "com.faasq.cron.body": "hi",
    }
    job = job_of("fn", annotations, UTC_ZONE)
    assert [s.expression for s in job.schedules] == ["0 * * * *", "*/5 * * * * *", "@daily"]
    assert {s.zone.key for s in job.schedules} == {"Europe/Paris"}
    assert (job.overlap, job.body) == (Overlap.REPLACE, b"hi")
    assert job_of("fn", {"schedule": "@hourly"}, UTC_ZONE).overlap is Overlap.FORBID


def test_only_cron_functions_are_jobs_and_bad_ones_are_reported() -> None:
    functions = [
        Subscriber("ok", {"topic": "other, cron-function", "schedule": "@hourly"}),
        Subscriber("tz", {"topic": "cron-function", "schedule": "@hourly", "com.faasq.cron.timezone": "Nowhere"}),
        Subscriber("overlap", {"topic": "cron-function", "schedule": "@hourly", "com.faasq.cron.overlap": "never"}),
        Subscriber("none", {"topic": "cron-function"}),
        Subscriber("plain", {"topic": "other", "schedule": "@hourly"}),
    ]
    jobs, errors = cron_jobs(functions, ",", UTC_ZONE)
    assert [job.function for job in jobs] == ["ok"]
    assert errors == {
        "tz": "unknown time zone 'Nowhere': use an IANA name such as Europe/Paris or UTC",
        "overlap": "invalid com.faasq.cron.overlap 'never': use one of allow, forbid, replace",
        "none": "no schedule: annotation 'schedule' is missing or empty",
    }


MINUTELY = parse_schedule("* * * * *", UTC_ZONE)


def test_a_run_on_time_fires_once_and_moves_on() -> None:
    due = at("2024-01-01T00:01:00Z")
    assert next_run(MINUTELY, due, due - timedelta(seconds=1), catch_up=True) == (None, 0, due)
    assert next_run(MINUTELY, due, due + timedelta(seconds=3), True) == (due, 0, at("2024-01-01T00:02:00Z"))


def test_missed_runs_merge_into_one_catch_up_or_are_dropped() -> None:
    due, now = at("2024-01-01T00:01:00Z"), at("2024-01-01T01:00:30Z")
    assert next_run(MINUTELY, due, now, catch_up=True) == (at("2024-01-01T01:00:00Z"), 59, at("2024-01-01T01:01:00Z"))
    assert next_run(MINUTELY, due, now, catch_up=False) == (None, 60, at("2024-01-01T01:01:00Z"))
    seconds = parse_schedule("* * * * * *", UTC_ZONE)
    fired, missed, following = next_run(seconds, at("2024-01-01T00:00:00Z"), at("2024-01-02T00:00:00.5Z"), True)
    assert (fired, missed, following) == (at("2024-01-01T00:16:40Z"), 1000, at("2024-01-02T00:00:01Z"))


def test_a_restart_within_the_window_fires_one_catch_up_run() -> None:
    job = CronJob("fn", (MINUTELY,))
    start = at("2024-01-01T00:10:30Z")
    table = Timetable(catch_up=True, catch_up_window=timedelta(minutes=5))
    table.update([job], start, starting=True)
    runs = table.due(start)
    assert [(r.scheduled, r.missed) for r in runs] == [(at("2024-01-01T00:10:00Z"), 4)]
    assert table.due(start) == []
    assert table.next_wake() == at("2024-01-01T00:11:00Z")
    fresh = Timetable()
    fresh.update([job], start, starting=True)
    assert fresh.due(start) == []
    fresh.update([], start)
    assert fresh.next_wake() is None


def test_an_unchanged_schedule_keeps_its_due_time_across_updates() -> None:
    job = CronJob("fn", (MINUTELY,))
    table = Timetable()
    table.update([job], at("2024-01-01T00:00:30Z"))
    table.update([job], at("2024-01-01T00:05:30Z"))
    assert [r.missed for r in table.due(at("2024-01-01T00:05:30Z"))] == [4]


@pytest.mark.parametrize(
    ("policy", "running", "action"),
    [
        (Overlap.FORBID, False, "start"),
        (Overlap.FORBID, True, "skip"),
        (Overlap.ALLOW, True, "start"),
        (Overlap.REPLACE, True, "replace"),
    ],
)
def test_overlap_policy(policy: Overlap, running: bool, action: str) -> None:
    assert overlap_action(policy, running) == action


def test_a_bad_default_time_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        CronSettings(default_timezone="Atlantis/Capital")
    assert CronSettings(default_timezone="Europe/Paris").zone.key == "Europe/Paris"
