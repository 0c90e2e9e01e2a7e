from __future__ import annotations

import pytest

from queue_worker.outcome import Failure, Outcome
from queue_worker.policy import Ack, DeadLetter, Retry, RetryPolicy, Verdict, decide

OK = Outcome(200)
NOT_FOUND = Outcome(404)
UNAVAILABLE = Outcome(503)
REFUSED = Outcome(None, failure=Failure.CONNECTION, detail="refused")
TIMED_OUT = Outcome(None, failure=Failure.TIMEOUT)
RETRYING = RetryPolicy(max_attempts=3, initial_wait=1.0, max_wait=3.0)


@pytest.mark.parametrize(
    ("outcome", "attempt", "policy", "verdict"),
    [
        # OpenFaaS CE's behaviour, the default: every outcome is final.
        (OK, 1, RetryPolicy(), Ack()),
        (NOT_FOUND, 1, RetryPolicy(), Ack()),
        (UNAVAILABLE, 1, RetryPolicy(), Ack()),
        (REFUSED, 1, RetryPolicy(), Ack()),
        (TIMED_OUT, 5, RetryPolicy(), Ack()),
        # With retries: a non-retryable status is final whatever the attempt.
        (OK, 1, RETRYING, Ack()),
        (NOT_FOUND, 3, RETRYING, Ack()),
        (UNAVAILABLE, 1, RETRYING, Retry(delay=1.0)),
        (Outcome(429), 2, RETRYING, Retry(delay=2.0)),
        (REFUSED, 2, RETRYING, Retry(delay=2.0)),
        (TIMED_OUT, 1, RETRYING, Retry(delay=1.0)),
        (UNAVAILABLE, 3, RETRYING, DeadLetter(reason="HTTP 503 after 3 attempts")),
        (REFUSED, 4, RETRYING, DeadLetter(reason="connection error after 4 attempts")),
        (Outcome(500), 1, RetryPolicy(max_attempts=2, retry_http_codes=frozenset({502})), Ack()),
    ],
)
def test_decide(outcome: Outcome, attempt: int, policy: RetryPolicy, verdict: Verdict) -> None:
    assert decide(outcome, attempt, policy) == verdict


@pytest.mark.parametrize(("attempt", "delay"), [(1, 10.0), (2, 20.0), (3, 40.0), (4, 80.0), (5, 120.0), (40, 120.0)])
def test_backoff_doubles_up_to_the_maximum(attempt: int, delay: float) -> None:
    assert RetryPolicy().backoff(attempt) == delay


@pytest.mark.parametrize(
    ("outcome", "status", "summary"),
    [
        (OK, 200, "HTTP 200"),
        (Outcome(418), 418, "HTTP 418"),
        (REFUSED, 503, "connection error"),
        (TIMED_OUT, 504, "timeout"),
    ],
)
def test_reported_status_and_summary(outcome: Outcome, status: int, summary: str) -> None:
    assert (outcome.reported_status, outcome.summary) == (status, summary)
