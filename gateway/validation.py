"""Pure checks of an async call's request: function name, callback URL, call id, declared length, retry settings."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from functools import lru_cache
from urllib.parse import urlsplit

from calls.flow import Priority, concurrency_key_of
from calls.retry_settings import RETRY_SETTINGS, RetryOverrides
from calls.timing import DEADLINE_HEADER, deadline_of, due_of
from calls.wire import BATCH_ID_PATTERN, CALL_ID_PATTERN
from gateway.errors import BodyTooLarge, InvalidRequest
from plumbing.headers import as_sent
from provider.types import split_namespace

__all__ = [
    "RETRY_HEADERS",
    "call_id_of",
    "callback_url_of",
    "check_batch_id",
    "check_length",
    "effective_retry",
    "function_of",
    "priority_of",
    "retry_of",
]

RETRY_HEADERS = {setting.header.lower().encode(): setting.header for setting in RETRY_SETTINGS}
"""The request headers that override a call's retry settings: their ASGI names, and how they are spelt."""

# OpenFaaS: names match [-a-zA-Z_0-9.]+ and "name.ns" selects a namespace; no empty part (so no "..").
_NAME = re.compile(r"\A[-a-zA-Z_0-9]+(?:\.[-a-zA-Z_0-9]+)?\Z")
# RFC 3986: a URL is visible ASCII; spaces and controls must be percent-encoded.
_URL_CHARS = re.compile(r"\A[\x21-\x7e]+\Z")


def function_of(name: str, default_namespace: str) -> tuple[str, str]:
    """The (function, namespace) a ``name`` or ``name.ns`` path segment names.

    Raises:
        InvalidRequest: the name is empty or has characters OpenFaaS does not allow.
    """
    if not _NAME.match(name):
        raise InvalidRequest(f"invalid function name {name!r}: use letters, digits, '-', '_' and one '.ns'")
    return split_namespace(name, default_namespace)


def callback_url_of(value: str | None) -> str | None:
    """The ``X-Callback-Url``, checked: an absolute http or https URL with a host, or None if absent.

    Raises:
        InvalidRequest: anything else.
    """
    return None if value is None else _checked_url(value)


# Callers send the same few callback URLs again and again; parsing one costs a microsecond.
@lru_cache(maxsize=256)
def _checked_url(value: str) -> str:
    try:
        parts = urlsplit(value)
        ok = bool(_URL_CHARS.match(value)) and parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        ok = False
    if not ok:
        raise InvalidRequest(f"invalid X-Callback-Url {as_sent(value)!r}: expected an absolute http(s) URL with a host")
    return value


def call_id_of(value: str | None) -> str:
    """The client's ``X-Call-Id`` if it sent one (checked), else a new uuid4.

    Raises:
        InvalidRequest: the client's id is not 1-128 letters, digits, '.', '_', ':' or '-' starting alphanumeric.
    """
    if value is None:
        return str(uuid.uuid4())
    if not CALL_ID_PATTERN.match(value):
        shown = as_sent(value)[:140]  # as the client wrote it, not its UTF-8 bytes read one by one
        raise InvalidRequest(f"invalid X-Call-Id {shown!r}: use up to 128 letters, digits, '.', '_', ':' or '-'")
    return value


def check_batch_id(batch_id: str, what: str) -> None:
    """Refuse a batch id that a key-value key cannot hold: see :data:`calls.wire.BATCH_ID_PATTERN`.

    Raises:
        InvalidRequest: naming ``what`` (the header or the path part it came from).
    """
    if not BATCH_ID_PATTERN.match(batch_id):
        raise InvalidRequest(
            f"invalid {what} {batch_id[:110]!r}: use up to 100 letters, digits, '.', '_', '-', "
            "starting with a letter or digit, a '.' only between two others"
        )


def check_length(declared: str | None, limit: int) -> None:
    """Reject a ``Content-Length`` over ``limit`` before reading the body.

    Raises:
        BodyTooLarge: it is over the limit.
    """
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"request body of {int(declared)} bytes is over the limit of {limit} bytes")


def timing_headers(
    delay: str | None, not_before: str | None, deadline: str | None, now_ns: int, *, delays: bool = True
) -> tuple[int, int]:
    """When a call is due (``X-Delay``, ``X-Not-Before``) and its ``X-Deadline``, in ns since the epoch (0: none).

    Raises:
        InvalidRequest: a value does not parse, a deadline is past or not after the call is due.
    """
    try:
        due = due_of(delay, not_before, now_ns) if delay is not None or not_before is not None else 0
        last = deadline_of(deadline, now_ns) if deadline is not None else 0
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    if due and not delays:
        raise InvalidRequest("delayed calls are off on this gateway (message_schedules=false)")
    if due and last and last <= due:
        raise InvalidRequest(f"{DEADLINE_HEADER} {(deadline or '').strip()} is not after the call is due")
    return due, last


def concurrency_key(value: str | None) -> str:
    """The digest of a request's ``X-Concurrency-Key`` (empty without one).

    Raises:
        InvalidRequest: it is blank or too long.
    """
    try:
        return concurrency_key_of(value)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None


def priority_of(value: str | None, default: Priority) -> Priority:
    """A request's ``X-Priority``, or ``default`` without one.

    Raises:
        InvalidRequest: it is not high, normal or low.
    """
    if value is None:
        return default
    try:
        return Priority.parse(value, "X-Priority")
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None


def retry_of(watched: Mapping[bytes, str]) -> RetryOverrides | None:
    """The retry settings a request's ``X-Retry-*`` and ``X-Max-Event-Age`` headers set, or None.

    Raises:
        InvalidRequest: a value does not parse, or the minimum wait is over the maximum.
    """
    values = tuple((RETRY_HEADERS[key], value) for key, value in watched.items() if key in RETRY_HEADERS)
    return _parsed_retry(values) if values else None


# Callers send the same few retry settings again and again, like callback URLs.
@lru_cache(maxsize=256)
def _parsed_retry(values: tuple[tuple[str, str], ...]) -> RetryOverrides | None:
    try:
        return RetryOverrides.from_values(dict(values), lambda setting: setting.header)
    except ValueError as exc:
        raise InvalidRequest(f"invalid retry header {exc}") from None


def effective_retry(requested: RetryOverrides | None, annotated: RetryOverrides | None) -> RetryOverrides | None:
    """A call's retry settings: its headers' over its function's annotations (the worker's fill the rest).

    Raises:
        InvalidRequest: together they set a minimum wait over the maximum.
    """
    if requested is None:
        return annotated
    merged = requested.over(annotated)
    if merged.waits_cross():
        raise InvalidRequest(
            f"invalid retry headers: the minimum wait {merged.min_wait:g}s is over the maximum wait "
            f"{merged.max_wait:g}s (the headers' settings over the function's annotations)"
        )
    return merged
