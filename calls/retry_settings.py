"""The retry settings: one name each, and what each is called at every hop.

A worker retries by its own settings; a function may override them by annotations, and
one call by request headers. The gateway resolves both at enqueue (header over
annotation), checks them, and carries what is set in NATS headers of the queued message;
the worker fills in the rest from its own. :data:`RETRY_SETTINGS` is the one table of
names: the field (in :class:`RetryOverrides` and :class:`~calls.retry_decision.RetryPolicy`
alike), the worker's environment variable, the annotation, the request header and the
NATS header.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, NamedTuple

from provider.types import parse_go_duration

__all__ = [
    "MAX_ATTEMPTS",
    "RETRY_HTTP_CODES",
    "RETRY_NATS_HEADERS",
    "RETRY_SETTINGS",
    "RetryOverrides",
    "RetrySetting",
    "parse_attempts",
    "parse_codes",
    "parse_wait",
]

MAX_ATTEMPTS = 1000
"""The most runs one call may be given."""

RETRY_HTTP_CODES = frozenset({408, 429, 500, 502, 503, 504})
"""OpenFaaS Pro's default ``retry_http_codes``."""

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


class RetrySetting(NamedTuple):
    """One retry setting and its name at each hop."""

    field: str
    """Its name in :class:`RetryOverrides` and :class:`~calls.retry_decision.RetryPolicy`."""
    setting: str
    """The queue worker's environment variable."""
    annotation: str
    """The function's annotation."""
    header: str
    """The request header on ``/async-function/``."""
    nats_header: str
    """The header of the queued message."""
    parse: Callable[[str], Any]
    format: Callable[[Any], str]


def _seconds(value: float) -> str:
    return repr(value)


def _codes(value: frozenset[int]) -> str:
    return ",".join(map(str, sorted(value))) or "none"


RETRY_SETTINGS = (
    RetrySetting(
        field="max_attempts",
        setting="max_retry_attempts",
        annotation="com.openfaas.retry.attempts",
        header="X-Retry-Attempts",
        nats_header="Faasq-Retry-Attempts",
        parse=parse_attempts,
        format=str,
    ),
    RetrySetting(
        field="codes",
        setting="retry_http_codes",
        annotation="com.openfaas.retry.codes",
        header="X-Retry-Codes",
        nats_header="Faasq-Retry-Codes",
        parse=parse_codes,
        format=_codes,
    ),
    RetrySetting(
        field="min_wait",
        setting="initial_retry_wait",
        annotation="com.openfaas.retry.min_wait",
        header="X-Retry-Min-Wait",
        nats_header="Faasq-Retry-Min-Wait",
        parse=parse_wait,
        format=_seconds,
    ),
    RetrySetting(
        field="max_wait",
        setting="max_retry_wait",
        annotation="com.openfaas.retry.max_wait",
        header="X-Retry-Max-Wait",
        nats_header="Faasq-Retry-Max-Wait",
        parse=parse_wait,
        format=_seconds,
    ),
    RetrySetting(
        field="max_event_age",
        setting="max_event_age",
        annotation="com.faasq.max_event_age",
        header="X-Max-Event-Age",
        nats_header="Faasq-Max-Event-Age",
        parse=parse_wait,
        format=_seconds,
    ),
)
"""Every retry setting, in the order they are checked."""

RETRY_NATS_HEADERS = frozenset(setting.nats_header for setting in RETRY_SETTINGS)
"""The NATS header names that carry a call's overrides."""

_MIN_WAIT, _MAX_WAIT = (next(s for s in RETRY_SETTINGS if s.field == name) for name in ("min_wait", "max_wait"))


@dataclass(frozen=True, slots=True)
class RetryOverrides:
    """The retry settings one call overrides; None means the worker's own.

    Attributes:
        max_attempts: runs of the call at most, the first included.
        codes: function statuses worth another run.
        min_wait: seconds before the first retry (the backoff's floor).
        max_wait: the longest wait between two runs.
        max_event_age: seconds after its enqueue that the call is dead-lettered rather than run; 0 for no limit.
    """

    max_attempts: int | None = None
    codes: frozenset[int] | None = None
    min_wait: float | None = None
    max_wait: float | None = None
    max_event_age: float | None = None

    def set_fields(self) -> dict[str, Any]:
        """The settings set here, by field name."""
        return {f.name: value for f in fields(self) if (value := getattr(self, f.name)) is not None}

    def over(self, other: RetryOverrides | None) -> RetryOverrides:
        """These overrides, with ``other``'s where these leave a setting unset."""
        return self if other is None else replace(other, **self.set_fields())

    def nats_headers(self) -> dict[str, str]:
        """The NATS headers that carry the settings set here."""
        return {
            setting.nats_header: setting.format(value)
            for setting in RETRY_SETTINGS
            if (value := getattr(self, setting.field)) is not None
        }

    @classmethod
    def from_values(cls, values: Mapping[str, str], key: Callable[[RetrySetting], str]) -> RetryOverrides | None:
        """The overrides named in ``values`` (by each setting's ``key``), or None if there is none.

        Raises:
            ValueError: a value does not parse, or the minimum wait is over the maximum; the message names it.
        """
        found: dict[str, Any] = {}
        for setting in RETRY_SETTINGS:
            name = key(setting)
            if (text := values.get(name)) is not None:
                try:
                    found[setting.field] = setting.parse(text)
                except ValueError as exc:
                    raise ValueError(f"{name}: {exc}") from None
        if not found:
            return None
        overrides = cls(**found)
        if overrides.waits_cross():
            raise ValueError(f"{key(_MIN_WAIT)} is over {key(_MAX_WAIT)}")
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
        return cls.from_values(headers, lambda setting: setting.nats_header)
