"""A call's own retry settings: their annotation and request header names, how they parse, how they travel.

A worker retries by its own settings (``max_retry_attempts``, ``retry_http_codes``,
``initial_retry_wait``, ``max_retry_wait``, ``max_event_age``). A function may override
them by annotations, and one call by request headers; the gateway resolves both at
enqueue (header over annotation), checks them, and carries what is set in NATS headers of
the queued message. A message without them is retried by the worker's settings alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, NamedTuple

from provider.types import parse_go_duration

__all__ = [
    "MAX_ATTEMPTS",
    "OVERRIDES",
    "RETRY_NATS_HEADERS",
    "Knob",
    "RetryOverrides",
    "parse_attempts",
    "parse_codes",
    "parse_wait",
]

MAX_ATTEMPTS = 1000
"""The most runs one call may be given."""

_CODE = re.compile(r"\A[1-5][0-9][0-9]\Z")


def parse_attempts(text: str) -> int:
    """Runs of a call at most, the first included: a whole number from 1 to :data:`MAX_ATTEMPTS`.

    Raises:
        ValueError: anything else.
    """
    value = text.strip()
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_ATTEMPTS:
        raise ValueError(f"invalid attempts {text!r}: expected a whole number from 1 to {MAX_ATTEMPTS}")
    return int(value)


def parse_codes(text: str) -> frozenset[int]:
    """HTTP statuses worth another run: comma-separated codes such as ``429,503``; ``none`` (or empty) for none.

    Raises:
        ValueError: a part is not a status code from 100 to 599.
    """
    value = text.strip()
    if value.lower() in ("", "none"):
        return frozenset()
    parts = [part.strip() for part in value.split(",")]
    if not all(_CODE.match(part) for part in parts):
        raise ValueError(f"invalid status codes {text!r}: expected comma-separated HTTP codes such as 429,503")
    return frozenset(int(part) for part in parts)


def parse_wait(text: str) -> float:
    """Seconds, from a Go duration (``500ms``, ``1m30s``) or a bare number of seconds; zero or more.

    Raises:
        ValueError: not a duration, or a negative one.
    """
    seconds = parse_go_duration(text).total_seconds()
    if seconds < 0:
        raise ValueError(f"invalid duration {text!r}: must not be negative")
    return seconds


@dataclass(frozen=True, slots=True)
class RetryOverrides:
    """The retry settings one call overrides; None means the worker's own.

    Attributes:
        attempts: runs of the call at most, the first included.
        codes: function statuses worth another run.
        min_wait: seconds before the first retry (the backoff's floor).
        max_wait: the longest wait between two runs.
        max_age: seconds after its enqueue that the call is dead-lettered rather than run; 0 for no limit.
    """

    attempts: int | None = None
    codes: frozenset[int] | None = None
    min_wait: float | None = None
    max_wait: float | None = None
    max_age: float | None = None

    def over(self, other: RetryOverrides | None) -> RetryOverrides:
        """These overrides, with ``other``'s where these leave a setting unset."""
        if other is None:
            return self
        return replace(other, **{f.name: v for f in fields(self) if (v := getattr(self, f.name)) is not None})

    def nats_headers(self) -> dict[str, str]:
        """The NATS headers that carry the settings set here."""
        return {
            knob.nats_header: knob.format(value)
            for knob in OVERRIDES
            if (value := getattr(self, knob.field)) is not None
        }

    @classmethod
    def from_values(cls, values: Mapping[str, str], key: Callable[[Knob], str]) -> RetryOverrides | None:
        """The overrides named in ``values`` (by each :class:`Knob`'s ``key``), or None if there is none.

        Raises:
            ValueError: a value does not parse, or the minimum wait is over the maximum; the message names it.
        """
        found: dict[str, Any] = {}
        for knob in OVERRIDES:
            name = key(knob)
            if (text := values.get(name)) is not None:
                try:
                    found[knob.field] = knob.parse(text)
                except ValueError as exc:
                    raise ValueError(f"{name}: {exc}") from None
        if not found:
            return None
        overrides = cls(**found)
        if overrides.waits_cross():
            raise ValueError(f"{key(MIN_WAIT)} is over {key(MAX_WAIT)}")
        return overrides

    def waits_cross(self) -> bool:
        """Whether both waits are set and the minimum is over the maximum."""
        return self.min_wait is not None and self.max_wait is not None and self.min_wait > self.max_wait

    @classmethod
    def from_nats_headers(cls, headers: Mapping[str, str]) -> RetryOverrides | None:
        """The overrides a queued message carries, or None.

        Raises:
            ValueError: a header does not parse.
        """
        return cls.from_values(headers, lambda knob: knob.nats_header)


class Knob(NamedTuple):
    """One overridable setting and its names at each hop."""

    field: str
    annotation: str
    header: str
    """The request header on ``/async-function/``."""
    nats_header: str
    parse: Callable[[str], Any]
    format: Callable[[Any], str]


def _seconds(value: float) -> str:
    return repr(value)


def _codes(value: frozenset[int]) -> str:
    return ",".join(map(str, sorted(value))) or "none"


ATTEMPTS = Knob(
    "attempts", "com.openfaas.retry.attempts", "X-Retry-Attempts", "Faasq-Retry-Attempts", parse_attempts, str
)
CODES = Knob("codes", "com.openfaas.retry.codes", "X-Retry-Codes", "Faasq-Retry-Codes", parse_codes, _codes)
MIN_WAIT = Knob(
    "min_wait", "com.openfaas.retry.min_wait", "X-Retry-Min-Wait", "Faasq-Retry-Min-Wait", parse_wait, _seconds
)
MAX_WAIT = Knob(
    "max_wait", "com.openfaas.retry.max_wait", "X-Retry-Max-Wait", "Faasq-Retry-Max-Wait", parse_wait, _seconds
)
MAX_AGE = Knob("max_age", "com.faasq.max_event_age", "X-Max-Event-Age", "Faasq-Max-Event-Age", parse_wait, _seconds)

OVERRIDES = (ATTEMPTS, CODES, MIN_WAIT, MAX_WAIT, MAX_AGE)
"""Every overridable setting, in the order they are checked."""

RETRY_NATS_HEADERS = frozenset(knob.nats_header for knob in OVERRIDES)
"""The NATS header names that carry a call's overrides."""
