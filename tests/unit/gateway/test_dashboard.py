"""The dashboard's pure parts: counters read from metric families, quantiles, rates, reason groups, a call's story."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from calls.deadletters import DeadLetterEntry, Kind
from calls.status import CallRecord, CallState
from calls.wire import QueuedCall
from gateway.dashboard import Sample, Sampler, quantile
from gateway.ui_routes import reason_group, story

T0 = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)


def families(runs: dict[tuple[str, str], float], waits: list[float], in_flight: float = 0) -> CollectorRegistry:
    registry = CollectorRegistry()
    invocations = Counter("gateway_function_invocation", "", ["function_name", "code"], registry=registry)
    for (fn, code), count in runs.items():
        invocations.labels(fn, code).inc(count)
    wait = Histogram(
        "faasq_call_queue_wait_seconds", "", ["function_name", "queue"], buckets=(0.1, 1, 10), registry=registry
    )
    for seconds in waits:
        wait.labels("echo.fn", "default").observe(seconds)
    Gauge("faasq_call_runs_in_flight", "", ["function_name", "queue"], registry=registry).labels(
        "echo.fn", "default"
    ).set(in_flight)
    Counter("faasq_calls_enqueued", "", ["function_name", "queue"], registry=registry).labels("echo.fn", "q").inc(7)
    Counter("faasq_calls_settled", "", ["function_name", "queue"], registry=registry).labels("echo.fn", "q").inc(4)
    return registry


def test_a_sample_reads_runs_errors_waits_and_what_is_in_flight() -> None:
    registry = families({("echo.fn", "200"): 8, ("echo.fn", "500"): 2, ("wc.fn", "200"): 1}, [0.05, 0.5, 5], 3)
    sample = Sample.of(registry.collect(), at=100.0)
    assert sample.runs == {"echo.fn": 10, "wc.fn": 1}
    assert sample.errors == {"echo.fn": 2}
    assert sample.in_flight == {"echo.fn": 3}
    assert sample.queue_in_flight == {"default": 3}
    assert (sample.enqueued, sample.settled, sample.queue_settled) == ({"echo.fn": 7}, {"echo.fn": 4}, {"q": 4})
    assert sample.waits["echo.fn"] == [(0.1, 1), (1.0, 2), (10.0, 3), (float("inf"), 3)]


@pytest.mark.parametrize(
    ("q", "expected"),
    [(0.5, 0.55), (0.99, 9.73), (0.0, 0.0), (1 / 3, 0.1)],
)
def test_quantiles_are_interpolated_within_their_bucket(q: float, expected: float) -> None:
    buckets = [(0.1, 1.0), (1.0, 2.0), (10.0, 3.0), (float("inf"), 3.0)]
    assert quantile(q, buckets) == pytest.approx(expected, abs=0.01)


def test_a_quantile_past_the_last_bucket_is_its_bound_and_none_without_calls() -> None:
    assert quantile(0.99, [(1.0, 1.0), (float("inf"), 10.0)]) == 1.0
    assert quantile(0.5, []) is None
    assert quantile(0.5, [(1.0, 0.0), (float("inf"), 0.0)]) is None


def test_the_charts_are_rates_between_samples_and_the_median_wait_of_each_span() -> None:
    sampler = Sampler(every=5.0, kept=900.0)
    first = Sample.of(families({("echo.fn", "200"): 10}, [0.05]).collect(), at=100.0)
    second = Sample.of(families({("echo.fn", "200"): 20, ("echo.fn", "503"): 5}, [0.05, 5, 5, 5]).collect(), at=105.0)
    sampler.samples.extend([first, second])
    series = sampler.series()
    assert series == {"at": [105.0], "throughput": [3.0], "errors": [1.0], "waitP50": [5.5]}
    assert sampler.before(second, 60) is first
    assert sampler.before(first, 60) is None


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("timed out after 10.21s", "timed out after 9.87s"),
        ("HTTP 503 after 3 attempts", "HTTP 503 after 3 attempts"),
        (
            "callback failed 10 times, last: 'http://a.example/1f0e8c4a-1111-2222-3333-444455556666'",
            "callback failed 10 times, last: 'http://b.example/x'",
        ),
    ],
)
def test_reasons_that_differ_only_in_ids_times_and_quoted_text_are_one_group(one: str, other: str) -> None:
    assert reason_group(one) == reason_group(other)


def test_reasons_with_another_status_or_attempt_count_are_groups_of_their_own() -> None:
    assert reason_group("HTTP 503 after 3 attempts") != reason_group("HTTP 500 after 3 attempts")
    assert reason_group("HTTP 503 after 3 attempts") != reason_group("HTTP 503 after 2 attempts")


def record(state: CallState, **fields: object) -> CallRecord:
    base = {"call_id": "c1", "function": "fn", "namespace": "ns", "queue": "default", "enqueued_at": T0}
    return CallRecord.model_validate(base | {"state": state} | fields)


def test_a_finished_calls_story_runs_from_its_acceptance_to_its_end() -> None:
    done = record(
        CallState.SUCCEEDED, attempt=2, max_attempts=3, started_at=T0 + timedelta(seconds=2),
        finished_at=T0 + timedelta(seconds=3), status_code=200, duration=0.25, callback="delivered",
    )  # fmt: skip
    assert [(s["state"], s["text"]) for s in story(done, None)] == [
        ("queued", "accepted on queue 'default'"),
        ("running", "run 2 of 3 started, after 1 failed"),
        ("succeeded", "HTTP 200 in 0.250s"),
        ("callback delivered", "the result was POSTed to its X-Callback-Url"),
    ]
    assert story(done, None)[0]["at"] == "2026-12-05T03:00:00Z"


def test_a_dead_calls_story_ends_with_its_dead_letter_and_an_undelivered_callback() -> None:
    dead = record(
        CallState.DEAD, attempt=3, started_at=T0, finished_at=T0, reason="HTTP 500 after 3 attempts",
        callback_error="callback failed 10 times",
    )  # fmt: skip
    call = QueuedCall(call_id="c1", function="fn", namespace="ns", callback_url=None, enqueued_at_ns=1)
    entry = DeadLetterEntry(call, Kind.FUNCTION, "HTTP 500 after 3 attempts", "500", 3, 1)
    steps = [(s["state"], s["text"]) for s in story(dead, entry)]
    assert steps[-2:] == [
        ("dead", "dead-lettered (function) after 3 runs: HTTP 500 after 3 attempts"),
        ("callback failed", "not delivered: callback failed 10 times"),
    ]
