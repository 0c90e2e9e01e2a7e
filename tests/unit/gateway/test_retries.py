"""A call's retry settings at enqueue: request headers over the function's annotations, checked, then queued."""

from __future__ import annotations

import httpx
import pytest

from calls.retry_settings import RetryOverrides
from gateway.errors import InvalidRequest
from gateway.functions import retry_of as annotated_retry
from gateway.validation import effective_retry, retry_of
from tests.support.gateway_fakes import FakeLink, FakeLookup, function

ALL_ANNOTATIONS = {
    "com.openfaas.retry.attempts": "5",
    "com.openfaas.retry.codes": "500, 503",
    "com.openfaas.retry.min_wait": "100ms",
    "com.openfaas.retry.max_wait": "1m",
    "com.faasq.max_event_age": "1h",
}


@pytest.mark.parametrize(
    ("watched", "overrides"),
    [
        ({}, None),
        ({b"x-call-id": "c1", b"content-length": "3"}, None),
        ({b"x-retry-attempts": "4"}, RetryOverrides(max_attempts=4)),
        ({b"x-retry-attempts": " 1000 "}, RetryOverrides(max_attempts=1000)),
        ({b"x-retry-codes": "429,503"}, RetryOverrides(codes=frozenset({429, 503}))),
        ({b"x-retry-codes": "none"}, RetryOverrides(codes=frozenset())),
        ({b"x-retry-codes": ""}, RetryOverrides(codes=frozenset())),
        ({b"x-retry-min-wait": "5ms", b"x-retry-max-wait": "20ms"}, RetryOverrides(min_wait=0.005, max_wait=0.02)),
        ({b"x-retry-min-wait": "2", b"x-retry-max-wait": "2s"}, RetryOverrides(min_wait=2.0, max_wait=2.0)),
        ({b"x-retry-min-wait": "0"}, RetryOverrides(min_wait=0.0)),
        ({b"x-max-event-age": "1m30s"}, RetryOverrides(max_event_age=90.0)),
        ({b"x-max-event-age": "0"}, RetryOverrides(max_event_age=0.0)),
    ],
)
def test_retry_headers_are_read(watched: dict[bytes, str], overrides: RetryOverrides | None) -> None:
    assert retry_of(watched) == overrides


@pytest.mark.parametrize(
    ("watched", "message"),
    [
        (
            {b"x-retry-attempts": "0"},
            "invalid retry header X-Retry-Attempts: invalid attempts '0': expected a whole number from 1 to 1000",
        ),
        ({b"x-retry-attempts": "1001"}, "X-Retry-Attempts: invalid attempts '1001'"),
        ({b"x-retry-attempts": "three"}, "X-Retry-Attempts: invalid attempts 'three'"),
        ({b"x-retry-attempts": "-1"}, "X-Retry-Attempts: invalid attempts '-1'"),
        ({b"x-retry-attempts": "٣"}, "X-Retry-Attempts: invalid attempts"),
        ({b"x-retry-codes": "500,abc"}, "X-Retry-Codes: invalid status codes '500,abc': expected comma-separated"),
        ({b"x-retry-codes": "600"}, "X-Retry-Codes: invalid status codes '600'"),
        ({b"x-retry-codes": "500,,503"}, "X-Retry-Codes: invalid status codes"),
        ({b"x-retry-min-wait": "soon"}, "X-Retry-Min-Wait: invalid duration 'soon'"),
        ({b"x-retry-max-wait": "-1s"}, "X-Retry-Max-Wait: invalid duration '-1s': must not be negative"),
        ({b"x-max-event-age": "1d"}, "X-Max-Event-Age: invalid duration '1d'"),
        ({b"x-retry-min-wait": "2s", b"x-retry-max-wait": "1s"}, "X-Retry-Min-Wait is over X-Retry-Max-Wait"),
    ],
)
def test_bad_retry_headers_are_refused_with_the_header_named(watched: dict[bytes, str], message: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        retry_of(watched)
    assert message in str(refused.value)


ANNOTATED = RetryOverrides(max_attempts=5, codes=frozenset({500}), min_wait=1.0, max_wait=10.0, max_event_age=60.0)


@pytest.mark.parametrize(
    ("requested", "annotated", "effective"),
    [
        (None, None, None),
        (None, ANNOTATED, ANNOTATED),
        (RetryOverrides(max_attempts=2), None, RetryOverrides(max_attempts=2)),
        # The header wins setting by setting; the annotation fills the rest.
        (
            RetryOverrides(max_attempts=2, max_event_age=0.0),
            ANNOTATED,
            RetryOverrides(2, frozenset({500}), 1.0, 10.0, 0.0),
        ),
        (RetryOverrides(codes=frozenset(), min_wait=10.0), ANNOTATED, RetryOverrides(5, frozenset(), 10.0, 10.0, 60.0)),
    ],
)
def test_headers_beat_annotations(
    requested: RetryOverrides | None, annotated: RetryOverrides | None, effective: RetryOverrides | None
) -> None:
    assert effective_retry(requested, annotated) == effective


def test_a_header_wait_crossing_an_annotated_one_is_refused() -> None:
    with pytest.raises(InvalidRequest, match=r"minimum wait 20s is over the maximum wait 10s"):
        effective_retry(RetryOverrides(min_wait=20.0), ANNOTATED)


@pytest.mark.parametrize(
    ("annotations", "overrides", "error"),
    [
        ({}, None, ""),
        ({"com.openfaas.queue": "q", "topic": "x"}, None, ""),
        (ALL_ANNOTATIONS, RetryOverrides(5, frozenset({500, 503}), 0.1, 60.0, 3600.0), ""),
        (
            {"com.openfaas.retry.attempts": "lots"},
            None,
            "function 'fn' has an invalid annotation com.openfaas.retry.attempts: invalid attempts 'lots'",
        ),
        (
            {"com.openfaas.retry.min_wait": "1m", "com.openfaas.retry.max_wait": "1s"},
            None,
            "function 'fn' has an invalid annotation com.openfaas.retry.min_wait is over com.openfaas.retry.max_wait",
        ),
        ({"com.faasq.max_event_age": "old"}, None, "com.faasq.max_event_age: invalid duration 'old'"),
    ],
)
def test_a_functions_retry_annotations(
    annotations: dict[str, str], overrides: RetryOverrides | None, error: str
) -> None:
    found, refused = annotated_retry(function("fn", annotations=annotations))
    assert found == overrides
    assert error in refused
    assert bool(refused) == bool(error)


@pytest.fixture
def lookup() -> FakeLookup:
    return FakeLookup(
        function("echo"),
        function("patient", annotations=ALL_ANNOTATIONS),
        function("broken", annotations={"com.openfaas.retry.codes": "5xx"}),
    )


async def test_a_call_without_retry_settings_carries_none(client: httpx.AsyncClient, link: FakeLink) -> None:
    assert (await client.post("/async-function/echo", content=b"x")).status_code == 202
    [(_, call)] = link.published
    assert call.retry is None
    assert not any(key.startswith(("Faasq-Retry", "Faasq-Max")) for key in call.nats_headers())


async def test_a_calls_headers_are_carried_over_its_functions_annotations(
    client: httpx.AsyncClient, link: FakeLink
) -> None:
    headers = {"X-Retry-Attempts": "2", "X-Retry-Max-Wait": "90s", "X-Max-Event-Age": "0"}
    assert (await client.post("/async-function/patient", content=b"x", headers=headers)).status_code == 202
    assert (await client.post("/async-function/patient", content=b"x")).status_code == 202
    assert (
        await client.post("/async-function/echo", content=b"x", headers={"x-retry-codes": "429"})
    ).status_code == 202
    [(_, first), (_, second), (_, third)] = link.published
    assert first.retry == RetryOverrides(2, frozenset({500, 503}), 0.1, 90.0, 0.0)
    assert second.retry == RetryOverrides(5, frozenset({500, 503}), 0.1, 60.0, 3600.0)
    assert third.retry == RetryOverrides(codes=frozenset({429}))
    # The caller's headers still reach the function, as any other header.
    assert ("x-retry-attempts", "2") in first.headers


@pytest.mark.parametrize(
    ("path", "headers", "message"),
    [
        (
            "/async-function/echo",
            {"X-Retry-Attempts": "0"},
            "invalid retry header X-Retry-Attempts: invalid attempts '0'",
        ),
        ("/async-function/echo", {"X-Retry-Codes": "oops"}, "invalid retry header X-Retry-Codes"),
        ("/async-function/echo", {"X-Max-Event-Age": "forever"}, "invalid retry header X-Max-Event-Age"),
        ("/async-function/patient", {"X-Retry-Min-Wait": "2m"}, "invalid retry headers: the minimum wait 120s is over"),
        ("/async-function/broken", {}, "function 'broken' has an invalid annotation com.openfaas.retry.codes"),
        ("/async-function/broken", {"X-Retry-Codes": "503"}, "function 'broken' has an invalid annotation"),
    ],
)
async def test_bad_retry_settings_are_400_and_queue_nothing(
    client: httpx.AsyncClient, link: FakeLink, path: str, headers: dict[str, str], message: str
) -> None:
    response = await client.post(path, content=b"x", headers=headers)
    assert response.status_code == 400
    assert response.text.startswith(message), response.text
    assert response.headers["x-call-id"]
    assert link.published == []
