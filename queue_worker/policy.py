"""The retry policy: a pure function from a call's outcome to a verdict the consumer carries out.

The consumer turns :class:`Ack` into ``ack()``, :class:`Retry` into ``nak(delay=...)`` (no
worker slot is held while waiting) and :class:`DeadLetter` into the dead-letter hook and
``term()``. Nothing here does I/O, so every rule is a table test.
"""

from __future__ import annotations

from dataclasses import dataclass

from queue_worker.outcome import Outcome

__all__ = ["Ack", "DeadLetter", "Retry", "RetryPolicy", "Verdict", "decide"]

RETRY_HTTP_CODES = frozenset({408, 429, 500, 502, 503, 504})
"""OpenFaaS Pro's default ``retry_http_codes``."""


@dataclass(frozen=True, slots=True)
class Ack:
    """The call is finished (whatever its status: the callback carries it); remove it from the queue."""


@dataclass(frozen=True, slots=True)
class Retry:
    """Run the call again after ``delay`` seconds."""

    delay: float


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Give up on the call: report it, keep it aside with ``reason``, remove it from the queue."""

    reason: str


Verdict = Ack | Retry | DeadLetter


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Which outcomes are retried, how often and how long apart.

    The default, ``max_attempts=1``, is OpenFaaS CE's behaviour: every outcome is final and acked.

    Attributes:
        max_attempts: runs of one call at most, the first included.
        retry_http_codes: function statuses worth another run.
        initial_wait: seconds before the first retry; it doubles with each attempt.
        max_wait: the longest wait between two runs.
    """

    max_attempts: int = 1
    retry_http_codes: frozenset[int] = RETRY_HTTP_CODES
    initial_wait: float = 10.0
    max_wait: float = 120.0

    def is_retryable(self, outcome: Outcome) -> bool:
        """Whether another run could end differently: no response at all, or a retryable status."""
        return outcome.failure is not None or outcome.status in self.retry_http_codes

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after run number ``attempt`` (from 1): exponential, capped at ``max_wait``."""
        return min(self.max_wait, self.initial_wait * 2.0 ** max(0, attempt - 1))


def decide(outcome: Outcome, attempt: int, policy: RetryPolicy) -> Verdict:
    """What to do with a call after run number ``attempt`` (from 1) ended in ``outcome``."""
    if not policy.is_retryable(outcome):
        return Ack()  # finished, even on a 4xx: the callback carries the status
    if policy.max_attempts <= 1:
        return Ack()  # no retries configured: the outcome is final, as in OpenFaaS CE
    if attempt >= policy.max_attempts:
        return DeadLetter(reason=f"{outcome.summary} after {attempt} attempts")
    return Retry(delay=policy.backoff(attempt))
