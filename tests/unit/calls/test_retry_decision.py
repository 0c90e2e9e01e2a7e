from __future__ import annotations

import pytest

from calls.outcome import Attempt, Failure, Outcome
from calls.retry_decision import Ack, DeadLetter, Retry, RetryPolicy, Verdict, age_out, decide, retry_after
from calls.retry_settings import RetryOverrides

OK = Outcome(200)
NOT_FOUND = Outcome(404)
UNAVAILABLE = Outcome(503)
REFUSED = Outcome(None, failure=Failure.CONNECTION, detail="refused")
TIMED_OUT = Outcome(None, failure=Failure.TIMEOUT)
RETRYING = RetryPolicy(max_attempts=3, min_wait=1.0, max_wait=3.0)
NOW = 1_800_000_000.0  # Fri, 15 Jan 2027 08:00:00 GMT


def low() -> float:
    return 0.0


def high() -> float:
    return 0.999999


def half() -> float:
    return 0.5


def run(number: int, policy: RetryPolicy | None = None) -> Attempt:
    """Run ``number`` of a call, as the consumer counts it under ``policy``."""
    return Attempt(number, (policy or RetryPolicy(max_attempts=1000)).max_attempts)


def retry_after_is(value: str, status: int = 503) -> Outcome:
    return Outcome(status, headers=[("Content-Type", "text/plain"), ("Retry-After", value)])


@pytest.mark.parametrize(
    ("outcome", "attempt", "policy", "verdict"),
    [
        # A final outcome is acked whatever the attempt: the callback carries the status.
        (OK, 1, RetryPolicy(), Ack()),
        (OK, 3, RETRYING, Ack()),
        (NOT_FOUND, 1, RetryPolicy(), Ack()),
        (NOT_FOUND, 3, RETRYING, Ack()),
        (Outcome(501), 1, RETRYING, Ack()),
        (Outcome(500), 1, RetryPolicy(codes=frozenset({502})), Ack()),
        # Retryable: every default code, connection errors and timeouts.
        *[(Outcome(code), 1, RETRYING, Retry(delay=1.0)) for code in (408, 429, 500, 502, 503, 504)],
        (REFUSED, 2, RETRYING, Retry(delay=1.0)),
        (TIMED_OUT, 1, RETRYING, Retry(delay=1.0)),
        # No codes at all: only failures without a response are retried.
        (Outcome(503), 1, RetryPolicy(codes=frozenset()), Ack()),
        (REFUSED, 1, RetryPolicy(codes=frozenset()), Retry(delay=1.0)),
        # Out of attempts: dead-lettered with the reason.
        (UNAVAILABLE, 3, RETRYING, DeadLetter(reason="HTTP 503 after 3 attempts")),
        (REFUSED, 4, RETRYING, DeadLetter(reason="connection error after 4 attempts")),
        (TIMED_OUT, 3, RETRYING, DeadLetter(reason="timeout after 3 attempts")),
        (UNAVAILABLE, 1, RetryPolicy(max_attempts=1), DeadLetter(reason="HTTP 503 after 1 attempt")),
        (OK, 1, RetryPolicy(max_attempts=1), Ack()),
    ],
)
def test_decide(outcome: Outcome, attempt: int, policy: RetryPolicy, verdict: Verdict) -> None:
    assert decide(outcome, run(attempt, policy), policy, now=NOW, rand=low) == verdict


@pytest.mark.parametrize(
    ("attempt", "ceiling"),
    [(1, 2.0), (2, 4.0), (3, 8.0), (4, 16.0), (5, 30.0), (6, 30.0), (999, 30.0), (10_000, 30.0)],
)
def test_the_ceiling_doubles_up_to_max_wait(attempt: int, ceiling: float) -> None:
    assert RetryPolicy(min_wait=1.0, max_wait=30.0).ceiling(run(attempt)) == ceiling


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 5, 8, 50])
def test_full_jitter_spans_initial_wait_to_the_ceiling(attempt: int) -> None:
    policy = RetryPolicy(min_wait=0.5, max_wait=20.0)
    ceiling = policy.ceiling(run(attempt))
    assert policy.backoff(run(attempt), low) == 0.5
    assert policy.backoff(run(attempt), half) == pytest.approx(0.5 + (ceiling - 0.5) / 2)
    assert 0.5 <= policy.backoff(run(attempt), high) < ceiling
    assert policy.backoff(run(attempt), high) == pytest.approx(ceiling, rel=1e-5)


def test_jitter_goes_through_decide() -> None:
    policy = RetryPolicy(max_attempts=5, min_wait=1.0, max_wait=30.0)
    assert decide(UNAVAILABLE, run(3, policy), policy, now=NOW, rand=half) == Retry(delay=4.5)  # between 1 and 8


@pytest.mark.parametrize(
    ("policy", "delays"),
    [
        (RetryPolicy(min_wait=0.0, max_wait=30.0), {1: 0.0, 5: 0.0}),  # no wait at all
        (RetryPolicy(min_wait=2.0, max_wait=2.0), {1: 2.0, 5: 2.0}),  # a fixed wait
        (RetryPolicy(min_wait=0.001, max_wait=0.003), {1: 0.002, 2: 0.003, 9: 0.003}),
    ],
)
def test_backoff_edges_at_the_top_of_the_range(policy: RetryPolicy, delays: dict[int, float]) -> None:
    assert {attempt: policy.backoff(run(attempt), lambda: 1.0) for attempt in delays} == pytest.approx(delays)


@pytest.mark.parametrize(
    ("outcome", "seconds"),
    [
        (retry_after_is("7"), 7.0),
        (retry_after_is(" 0 "), 0.0),
        (retry_after_is("Fri, 15 Jan 2027 08:00:20 GMT"), 20.0),
        (retry_after_is("Fri, 15 Jan 2027 07:59:50 GMT"), -10.0),  # in the past
        (retry_after_is("Friday, 15-Jan-27 08:00:05 GMT"), 5.0),  # RFC 850, obsolete but allowed
        (retry_after_is("Fri Jan 15 08:00:03 2027"), 3.0),  # asctime
        (Outcome(503, headers=[("retry-after", "2")]), 2.0),  # any case
        (retry_after_is(""), None),
        (retry_after_is("soon"), None),
        (retry_after_is("-5"), None),
        (retry_after_is("1.5"), None),  # delay-seconds is whole
        (retry_after_is("²"), None),
        (retry_after_is("Fri, 99 Foo 2027 25:00:00 GMT"), None),
        (UNAVAILABLE, None),
        (REFUSED, None),
    ],
)
def test_retry_after_reads_seconds_and_http_dates(outcome: Outcome, seconds: float | None) -> None:
    assert retry_after(outcome, NOW) == seconds


@pytest.mark.parametrize(
    ("outcome", "attempt", "verdict"),
    [
        (retry_after_is("7"), 1, Retry(delay=7.0)),  # replaces the backoff
        (retry_after_is("7", 429), 2, Retry(delay=7.0)),
        (retry_after_is("7", 500), 1, Retry(delay=7.0)),  # honoured on any retried status
        (retry_after_is("3600"), 1, Retry(delay=10.0)),  # capped by max_wait
        (retry_after_is("0"), 1, Retry(delay=2.0)),  # floored at the minimum wait
        (retry_after_is("Fri, 15 Jan 2027 08:00:05 GMT"), 1, Retry(delay=5.0)),
        (retry_after_is("Fri, 15 Jan 2027 07:00:00 GMT"), 1, Retry(delay=2.0)),  # a past date: the floor
        (retry_after_is("Sat, 16 Jan 2027 08:00:00 GMT"), 1, Retry(delay=10.0)),  # a day away: the cap
        (retry_after_is("garbage"), 1, Retry(delay=2.0)),  # ignored: the backoff (low jitter)
        (retry_after_is("7"), 3, DeadLetter(reason="HTTP 503 after 3 attempts")),  # no attempts left
        (retry_after_is("7", 400), 1, Ack()),  # not a retried status
    ],
)
def test_retry_after_replaces_the_backoff_within_the_waits(outcome: Outcome, attempt: int, verdict: Verdict) -> None:
    policy = RetryPolicy(max_attempts=3, min_wait=2.0, max_wait=10.0)
    assert decide(outcome, run(attempt, policy), policy, now=NOW, rand=low) == verdict


GLOBAL = RetryPolicy(max_attempts=3, codes=frozenset({503}), min_wait=1.0, max_wait=30.0)


@pytest.mark.parametrize(
    ("overrides", "policy"),
    [
        (None, GLOBAL),
        (RetryOverrides(), GLOBAL),
        (RetryOverrides(max_attempts=7), RetryPolicy(7, frozenset({503}), 1.0, 30.0)),
        (RetryOverrides(codes=frozenset()), RetryPolicy(3, frozenset(), 1.0, 30.0)),
        (RetryOverrides(min_wait=0.01, max_wait=0.05), RetryPolicy(3, frozenset({503}), 0.01, 0.05)),
        (RetryOverrides(max_event_age=60.0), RetryPolicy(3, frozenset({503}), 1.0, 30.0, 60.0)),
        # A wait set alone moves the worker's other one rather than cross it.
        (RetryOverrides(min_wait=45.0), RetryPolicy(3, frozenset({503}), 45.0, 45.0)),
        (RetryOverrides(max_wait=0.2), RetryPolicy(3, frozenset({503}), 0.2, 0.2)),
    ],
)
def test_a_calls_overrides_beat_the_workers_settings(overrides: RetryOverrides | None, policy: RetryPolicy) -> None:
    assert GLOBAL.overridden(overrides) == policy


def test_precedence_is_header_then_annotation_then_worker() -> None:
    annotation = RetryOverrides(max_attempts=5, codes=frozenset({500}), max_wait=9.0)
    header = RetryOverrides(max_attempts=2, min_wait=0.5)
    effective = GLOBAL.overridden(header.over(annotation))
    assert effective == RetryPolicy(2, frozenset({500}), 0.5, 9.0, 0.0)


@pytest.mark.parametrize(
    ("enqueued_ns", "now_ns", "max_age", "verdict"),
    [
        (1, 10**18, 0.0, None),  # no limit
        (0, 10**18, 1.0, None),  # no enqueue time
        (10**18, 10**18 + 30 * 10**9, 30.0, None),  # exactly the age
        (10**18, 10**18 + 30 * 10**9 + 1, 30.0, DeadLetter(reason="older than max event age 30s")),
        (10**18, 10**18 + 10**9, 0.25, DeadLetter(reason="older than max event age 250ms")),
        (10**18, 10**18 + 10**9, 90.5, None),
        (10**18, 10**18 - 10**9, 0.5, None),  # clocks apart: enqueued "in the future"
    ],
)
def test_age_out(enqueued_ns: int, now_ns: int, max_age: float, verdict: DeadLetter | None) -> None:
    assert age_out(enqueued_ns, now_ns, RetryPolicy(max_event_age=max_age)) == verdict


@pytest.mark.parametrize(
    ("outcome", "status", "summary"),
    [
        (OK, 200, "HTTP 200"),
        (Outcome(418), 418, "HTTP 418"),
        (REFUSED, 503, "connection error"),
        (TIMED_OUT, 504, "timeout"),
        (Outcome(None, failure=Failure.EXPIRED), 410, "expired"),
    ],
)
def test_reported_status_and_summary(outcome: Outcome, status: int, summary: str) -> None:
    assert (outcome.reported_status, outcome.summary) == (status, summary)


def test_an_attempt_is_told_as_x_retry_and_x_retry_max() -> None:
    assert Attempt(2, 5).headers == [("X-Retry", "2"), ("X-Retry-Max", "5")]


def test_defaults_retry_an_accepted_call() -> None:
    policy = RetryPolicy()
    assert (policy.max_attempts, policy.min_wait, policy.max_wait, policy.max_event_age) == (3, 1.0, 30.0, 0.0)
    assert decide(UNAVAILABLE, run(1, policy), policy, now=NOW, rand=low) == Retry(1.0)
    assert decide(UNAVAILABLE, run(3, policy), policy, now=NOW, rand=low) == DeadLetter("HTTP 503 after 3 attempts")
