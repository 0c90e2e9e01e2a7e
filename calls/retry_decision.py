"""The retry decision: pure functions from a call's outcome (or its age) to a verdict the worker carries out.

The consumer turns :class:`Ack` into ``ack()``, :class:`Retry` into ``nak(delay=...)`` (no
worker slot is held while waiting) and :class:`DeadLetter` into the dead-letter hook and
``term()``. Nothing here does I/O or reads a clock: the time and the random source are
arguments, so every rule is a table test.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from email.utils import parsedate_to_datetime

from calls.outcome import Attempt, Kind, Outcome
from calls.retry_settings import RETRY_HTTP_CODES, RetryOverrides

__all__ = [
    "Ack",
    "DeadLetter",
    "Retry",
    "RetryPolicy",
    "Verdict",
    "age_out",
    "decide",
    "retry_after",
]

_SECONDS = re.compile(r"\A[0-9]+\Z")
_MAX_DOUBLINGS = 64  # past this the ceiling is max_wait anyway; 2.0**n would overflow near 1024


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
    kind: Kind | None = None
    """Why, where the outcome does not say (:meth:`calls.outcome.Failure` does for a deadline or an age)."""


Verdict = Ack | Retry | DeadLetter


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Which outcomes are retried, how often and how long apart, and how old a call may get.

    Its fields are :data:`~calls.retry_settings.RETRY_SETTINGS`' names; the worker's settings
    give them, and a call's :class:`~calls.retry_settings.RetryOverrides` replace them.

    Attributes:
        max_attempts: runs of one call at most, the first included.
        codes: function statuses worth another run (connection errors and timeouts always are).
        min_wait: seconds before the first retry, and the floor of every wait.
        max_wait: the longest wait between two runs.
        max_event_age: seconds after its enqueue that a call is dead-lettered rather than run; 0 for no limit.
    """

    max_attempts: int = 3
    codes: frozenset[int] = RETRY_HTTP_CODES
    min_wait: float = 1.0
    max_wait: float = 30.0
    max_event_age: float = 0.0

    def overridden(self, overrides: RetryOverrides | None) -> RetryPolicy:
        """This policy with a call's own settings; a wait set alone moves the other one if they would cross."""
        if overrides is None:
            return self
        policy = replace(self, **overrides.set_fields())
        if policy.min_wait <= policy.max_wait:
            return policy
        if overrides.max_wait is None:  # the call's minimum beats the worker's maximum
            return replace(policy, max_wait=policy.min_wait)
        return replace(policy, min_wait=policy.max_wait)

    def is_retryable(self, outcome: Outcome) -> bool:
        """Whether another run could end differently: no response at all, or a retryable status."""
        return outcome.failure is not None or outcome.status in self.codes

    def ceiling(self, attempt: Attempt) -> float:
        """The longest wait after run ``attempt``: ``min_wait`` * 2^number, up to ``max_wait``."""
        doublings = min(attempt.number, _MAX_DOUBLINGS)
        return max(self.min_wait, min(self.max_wait, self.min_wait * 2.0**doublings))

    def backoff(self, attempt: Attempt, rand: Callable[[], float]) -> float:
        """Seconds to wait after run ``attempt``: full jitter, uniform between ``min_wait`` and the ceiling.

        Args:
            attempt: the run that just ended.
            rand: a uniform random number in [0, 1), such as :func:`random.random`.
        """
        return self.min_wait + rand() * (self.ceiling(attempt) - self.min_wait)

    def clamp(self, delay: float) -> float:
        """``delay`` within ``min_wait`` and ``max_wait``."""
        return min(self.max_wait, max(self.min_wait, delay))


def retry_after(outcome: Outcome, now: float) -> float | None:
    """Seconds the function asked to wait by ``Retry-After`` (seconds, or an HTTP date), or None if it did not.

    Args:
        outcome: the function's response.
        now: the current unix time, for an HTTP date.
    """
    value = next((v.strip() for name, v in outcome.headers if name.lower() == "retry-after"), None)
    if not value:
        return None
    if _SECONDS.match(value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None  # garbage: the backoff decides
    return when.timestamp() - now  # naive dates are UTC here: parsedate_to_datetime marks "-0000" so


def decide(
    outcome: Outcome, attempt: Attempt, policy: RetryPolicy, *, now: float, rand: Callable[[], float]
) -> Verdict:
    """What to do with a call after run ``attempt`` ended in ``outcome``.

    Args:
        outcome: what the run came to.
        attempt: the run that ended.
        policy: the call's effective policy.
        now: the current unix time (for a ``Retry-After`` date).
        rand: a uniform random number in [0, 1), for the jitter.
    """
    if not policy.is_retryable(outcome):
        return Ack()  # finished, even on a 4xx: the callback carries the status
    if attempt.number >= policy.max_attempts:
        times = "attempt" if attempt.number == 1 else "attempts"
        return DeadLetter(reason=f"{outcome.summary} after {attempt.number} {times}")
    asked = retry_after(outcome, now)
    if asked is not None:
        return Retry(delay=policy.clamp(asked))
    return Retry(delay=policy.backoff(attempt, rand))


def age_out(enqueued_at_ns: int, now_ns: int, policy: RetryPolicy) -> DeadLetter | None:
    """A dead letter for a call older than the policy's ``max_event_age``, else None (run it).

    A call without an enqueue time (0) never ages out.
    """
    if policy.max_event_age <= 0 or enqueued_at_ns <= 0:
        return None
    if (now_ns - enqueued_at_ns) / 1e9 <= policy.max_event_age:
        return None
    return DeadLetter(reason=f"older than max event age {_duration(policy.max_event_age)}")


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:g}ms" if seconds < 1 else f"{seconds:g}s"
