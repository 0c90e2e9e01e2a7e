"""Which run of a call this is (:class:`Attempt`), what it came to (:class:`Outcome`), and why one is given up on."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, StrEnum

__all__ = ["Attempt", "Failure", "Kind", "Outcome"]


class Failure(Enum):
    """Why a call has no response from the function."""

    CONNECTION = "connection error"
    """The function (or the gateway in front of it) could not be reached, or the connection broke."""
    TIMEOUT = "timeout"
    """No whole response within ``upstream_timeout``."""
    EXPIRED = "expired"
    """Not run: the call was older than its maximum event age."""
    DEADLINE = "deadline"
    """Not run: its deadline (``X-Deadline``) passed before it could start."""


class Kind(StrEnum):
    """Why a call was given up on."""

    FUNCTION = "function"
    """The function kept failing (or could not be reached) until the attempts ran out."""
    MAX_AGE = "max-age"
    """The call was older than its maximum event age: it was not run again."""
    CALLBACK = "callback"
    """The function ran, but its callback could not be delivered after all its attempts."""
    DEADLINE = "deadline"
    """The call's deadline passed before it could start: it was not run."""
    RETRY_BUDGET = "retry-budget"
    """The function failed while its retries were over their budget (:mod:`calls.retry_budget`): not retried."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """Run number ``number`` (from 1) of a call allowed ``limit`` runs.

    The function's request and the callback carry it as ``X-Retry`` and ``X-Retry-Max``
    (OpenFaaS Pro's names): equal values mean the last run.
    """

    number: int
    limit: int

    @property
    def headers(self) -> list[tuple[str, str]]:
        """``X-Retry`` and ``X-Retry-Max``."""
        return [("X-Retry", str(self.number)), ("X-Retry-Max", str(self.limit))]


_FAILURE_STATUS = {Failure.TIMEOUT: 504, Failure.EXPIRED: 410, Failure.DEADLINE: 410}


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one invocation.

    Attributes:
        status: the function's HTTP status; None when ``failure`` is set.
        headers: the function's response headers, in order.
        body: the function's response body.
        duration: seconds from sending the request to the end of the response (or the failure).
        failure: why there is no response, if there is none.
        detail: the error's text, for logs.
    """

    status: int | None
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    duration: float = 0.0
    failure: Failure | None = None
    detail: str = ""

    @property
    def reported_status(self) -> int:
        """The status a callback reports: the function's, else 503 as OpenFaaS CE's worker does.

        504 on a timeout; 410 (Gone) for a call never run because it was older than its maximum event age.
        """
        if self.status is not None:
            return self.status
        return 503 if self.failure is None else _FAILURE_STATUS.get(self.failure, 503)

    @property
    def content_type(self) -> str | None:
        """The function's ``Content-Type``, if it sent one."""
        return next((value for name, value in self.headers if name.lower() == "content-type"), None)

    @property
    def summary(self) -> str:
        """A few words for logs and dead-letter reasons: ``HTTP 500`` or ``connection error``."""
        return f"HTTP {self.status}" if self.failure is None else self.failure.value
