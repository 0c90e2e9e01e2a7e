"""Properties of the parsers that take user input, tried on many generated inputs (Hypothesis).

Whatever a caller sends, each parser answers with a value or with its own refusal (which becomes a
4xx, or a configuration error naming the value), never with another exception (a 500); and what it
accepts means what it says.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calls.flow import Priority
from connectors.cron.schedule import ScheduleError, parse_schedule
from connectors.webhook.signatures import Encoding, Scheme, SignatureRejected, Verifier, sign, verify
from gateway.batchinput import BatchFormat, ItemLimits, splitter_for
from gateway.errors import BodyTooLarge, InvalidRequest
from gateway.validation import (
    RETRY_HEADERS,
    call_id_of,
    callback_url_of,
    check_batch_id,
    priority_of,
    retry_of,
    timing_headers,
)
from provider.types import parse_go_duration, parse_moment

T = TypeVar("T")
TEXT = st.text(max_size=60)
HEADER_VALUE = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=40)
NOW_NS = 1_800_000_000 * 10**9
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
LIMITS = ItemLimits(max_item_bytes=4096, max_items=1000)


def attempt(call: Callable[[], T], *refusals: type[Exception]) -> T | Exception:
    """What ``call`` returns, or the refusal it raised: any other exception fails the test."""
    try:
        return call()
    except refusals as exc:
        return exc


@given(st.one_of(TEXT, st.floats(), st.integers()))
def test_a_duration_parses_or_is_refused_by_name(value: object) -> None:
    parsed = attempt(lambda: parse_go_duration(value), ValueError)
    assert isinstance(parsed, timedelta) or str(parsed).startswith(("invalid duration", "expected a duration"))


@given(st.integers(0, 10_000), st.integers(0, 59), st.integers(0, 59), st.integers(0, 999))
def test_a_go_duration_means_its_parts(hours: int, minutes: int, seconds: int, millis: int) -> None:
    text = f"{hours}h{minutes}m{seconds}s{millis}ms"
    assert parse_go_duration(text) == timedelta(hours=hours, minutes=minutes, seconds=seconds, milliseconds=millis)
    assert parse_go_duration(f"-{text}") == -parse_go_duration(text)


@given(TEXT)
def test_a_moment_parses_or_is_refused_by_name(text: str) -> None:
    moment = attempt(lambda: parse_moment(text, datetime(2026, 12, 5, tzinfo=UTC)), ValueError)
    assert isinstance(moment, datetime) or str(moment).startswith("invalid time")
    assert not isinstance(moment, datetime) or moment.tzinfo is not None


def _split(body: bytes, cuts: list[int], batch_format: BatchFormat) -> list[bytes]:
    splitter = splitter_for(batch_format, LIMITS)
    items: list[bytes] = []
    start = 0
    for cut in sorted({min(cut, len(body)) for cut in cuts}):
        items += splitter.feed(body[start:cut])
        start = cut
    items += splitter.feed(body[start:])
    return items + splitter.finish()


@given(st.binary(max_size=300), st.lists(st.integers(0, 300), max_size=6), st.sampled_from(list(BatchFormat)))
def test_any_batch_body_splits_into_items_or_is_refused(
    body: bytes, cuts: list[int], batch_format: BatchFormat
) -> None:
    items = attempt(lambda: _split(body, cuts, batch_format), InvalidRequest, BodyTooLarge)
    assert str(items) if isinstance(items, Exception) else all(isinstance(item, bytes) for item in items)


@given(st.lists(JSON, max_size=8), st.lists(st.integers(0, 2000), max_size=6))
def test_json_lines_and_a_json_array_give_the_same_items_however_they_arrive(items: list[Any], cuts: list[int]) -> None:
    lines = b"".join(json.dumps(item).encode() + b"\n" for item in items)
    array = json.dumps(items).encode()
    from_lines = [json.loads(item) for item in _split(lines, cuts, BatchFormat.NDJSON)]
    from_array = [json.loads(item) for item in _split(array, cuts, BatchFormat.JSON)]
    assert from_lines == from_array == items


@given(st.dictionaries(st.sampled_from(sorted(RETRY_HEADERS)), HEADER_VALUE, max_size=4))
def test_retry_headers_parse_or_are_refused_by_name(watched: dict[bytes, str]) -> None:
    parsed = attempt(lambda: retry_of(watched), InvalidRequest)
    assert not isinstance(parsed, Exception) or str(parsed).startswith("invalid retry header")


@given(st.one_of(st.none(), HEADER_VALUE), st.one_of(st.none(), HEADER_VALUE), st.one_of(st.none(), HEADER_VALUE))
def test_delay_not_before_and_deadline_parse_or_are_refused(
    delay: str | None, not_before: str | None, deadline: str | None
) -> None:
    timing = attempt(lambda: timing_headers(delay, not_before, deadline, NOW_NS), InvalidRequest)
    if isinstance(timing, Exception):
        assert str(timing)
        return
    due, last = timing
    assert due >= 0
    assert last >= 0
    assert not (due and last) or last > due


@given(HEADER_VALUE)
def test_priority_call_id_callback_url_and_batch_id_parse_or_are_refused(value: str) -> None:
    checks = (
        lambda: priority_of(value, Priority.NORMAL),
        lambda: call_id_of(value),
        lambda: callback_url_of(value),
        lambda: check_batch_id(value, "X-Batch-Id"),
    )
    for check in checks:
        outcome = attempt(check, InvalidRequest)
        assert not isinstance(outcome, Exception) or str(outcome)


CRON_FIELD = st.one_of(
    st.just("*"),
    st.integers(0, 70).map(str),
    st.tuples(st.integers(0, 70), st.integers(0, 70)).map(lambda pair: f"{pair[0]}-{pair[1]}"),
    st.integers(0, 70).map(lambda step: f"*/{step}"),
    st.lists(st.integers(0, 70).map(str), min_size=1, max_size=3).map(",".join),
    st.text(max_size=4),
)


@given(st.one_of(TEXT, st.lists(CRON_FIELD, min_size=4, max_size=7).map(" ".join)))
def test_a_schedule_parses_or_is_refused_and_fires_after_now(text: str) -> None:
    schedule = attempt(lambda: parse_schedule(text, ZoneInfo("UTC")), ScheduleError)
    if isinstance(schedule, Exception):
        assert str(schedule).startswith(("invalid schedule", "unknown time zone"))
        return
    now = datetime(2026, 12, 5, 6, 30, tzinfo=UTC)
    # An expression that reads but never fires (February 30th) is refused too.
    fires = attempt(lambda: schedule.next_after(now), ScheduleError)
    assert str(fires) if isinstance(fires, Exception) else fires > now


VERIFIERS = st.builds(
    Verifier,
    scheme=st.sampled_from([Scheme.HMAC, Scheme.GITHUB, Scheme.FAAS_CLI, Scheme.STRIPE, Scheme.SLACK]),
    secret=st.binary(min_size=1, max_size=32),
    header=st.just("X-Signature"),
    algorithm=st.sampled_from(["sha1", "sha256", "sha512"]),
    encoding=st.sampled_from(list(Encoding)),
    prefix=st.sampled_from(["", "sha256=", "v1:"]),
)


def _signed(verifier: Verifier, body: bytes, now: float) -> dict[str, str]:
    if verifier.scheme is Scheme.STRIPE:
        stamp = str(int(now))
        return {"stripe-signature": f"t={stamp},v1={sign(verifier.secret, stamp.encode() + b'.' + body)}"}
    if verifier.scheme is Scheme.SLACK:
        stamp = str(int(now))
        digest = sign(verifier.secret, b"v0:" + stamp.encode() + b":" + body)
        return {"x-slack-request-timestamp": stamp, "x-slack-signature": f"v0={digest}"}
    if verifier.scheme is Scheme.HMAC:
        return {"x-signature": verifier.prefix + sign(verifier.secret, body, verifier.algorithm, verifier.encoding)}
    return {"x-signature": "sha256=" + sign(verifier.secret, body)}


@given(VERIFIERS, st.binary(max_size=200), st.integers(0, 199), st.integers(1, 255))
def test_a_signed_body_is_accepted_and_one_changed_byte_is_refused(
    verifier: Verifier, body: bytes, at: int, flip: int
) -> None:
    now = 1_800_000_000.0
    headers = _signed(verifier, body, now)
    verify(verifier, headers, body, now)
    if body:
        changed = bytearray(body)
        changed[at % len(body)] ^= flip
        with pytest.raises(SignatureRejected):
            verify(verifier, headers, bytes(changed), now)


@given(VERIFIERS, st.dictionaries(st.sampled_from(["x-signature", "stripe-signature", "x-slack-signature",
    "x-slack-request-timestamp"]), HEADER_VALUE), st.binary(max_size=50))  # fmt: skip
def test_any_signature_headers_are_checked_or_refused_with_a_reason(
    verifier: Verifier, headers: dict[str, str], body: bytes
) -> None:
    outcome = attempt(lambda: verify(verifier, headers, body, 1_800_000_000.0), SignatureRejected)
    assert not isinstance(outcome, Exception) or str(outcome)
