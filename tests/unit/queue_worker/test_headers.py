from __future__ import annotations

import pytest

from calls.outcome import Attempt, Failure, Outcome
from calls.wire import QueuedCall
from plumbing.release import user_agent
from queue_worker.callback import callback_headers
from queue_worker.invoker import function_url, invoke_headers

CALL = QueuedCall(
    call_id="call-1",
    function="echo",
    namespace="openfaas-fn",
    method="PUT",
    path="/a%20b/c",
    query="x=1&y=%2F",
    callback_url="http://127.0.0.1:9/cb",
    enqueued_at_ns=1_700_000_000_000_000_000,
    headers=[
        ("content-type", "text/plain"),
        ("x-custom", "one"),
        ("x-custom", "two"),
        ("host", "gateway:8080"),
        ("content-length", "5"),
        ("connection", "keep-alive, x-hop"),
        ("x-hop", "dropped"),
        ("transfer-encoding", "chunked"),
        ("x-call-id", "client-supplied"),
        ("x-start-time", "1"),
        ("X-Callback-Url", "http://127.0.0.1:9/cb"),
        ("X-Retry", "9"),
        ("x-retry-max", "9"),
    ],
    body=b"hello",
)


def test_invoke_headers_keep_end_to_end_headers_and_add_call_id_start_time_and_attempt() -> None:
    # A caller's own X-Retry headers are replaced by the worker's.
    assert invoke_headers(CALL, Attempt(2, 3), [("Authorization", "Basic eDp5")]) == [
        ("content-type", "text/plain"),
        ("x-custom", "one"),
        ("x-custom", "two"),
        ("X-Callback-Url", "http://127.0.0.1:9/cb"),
        ("X-Call-Id", "call-1"),
        ("X-Start-Time", "1700000000000000000"),
        ("X-Retry", "2"),
        ("X-Retry-Max", "3"),
        ("Authorization", "Basic eDp5"),
    ]


def test_invoke_headers_without_an_enqueue_time_use_now() -> None:
    call = QueuedCall(call_id="c", function="f", namespace="")
    (_, start) = invoke_headers(call, Attempt(1, 1))[-3]
    assert int(start) > 1_700_000_000_000_000_000


@pytest.mark.parametrize(
    ("call", "url"),
    [
        (CALL, "http://gw:8080/function/echo.openfaas-fn/a%20b/c?x=1&y=%2F"),
        (QueuedCall(call_id="c", function="f", namespace=""), "http://gw:8080/function/f/"),
    ],
)
def test_function_url_keeps_path_and_query_bytes(call: QueuedCall, url: str) -> None:
    assert str(function_url("http://gw:8080/", call)) == url


def test_callback_headers_carry_the_functions_status_duration_and_its_own_headers() -> None:
    function = [
        ("Content-Type", "application/json"),
        ("X-Other", "yes"),
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),  # repeated names kept, in order
        ("Connection", "keep-alive, X-Hop"),
        ("X-Hop", "named by Connection"),
        ("Transfer-Encoding", "chunked"),
        ("Content-Length", "2"),
        ("X-Call-Id", "forged"),
        ("x-function-status", "200"),
        ("X-Duration-Seconds", "0"),
        ("X-Retry", "9"),
        ("X-Faasq-Signature", "v1=forged"),
    ]
    outcome = Outcome(201, function, b"{}", 0.25)
    assert callback_headers(CALL, outcome, Attempt(3, 3), "agent/1") == [
        ("X-Call-Id", "call-1"),
        ("X-Function-Name", "echo"),
        ("X-Function-Status", "201"),
        ("X-Duration-Seconds", "0.250000"),
        ("X-Retry", "3"),
        ("X-Retry-Max", "3"),
        ("User-Agent", "agent/1"),
        ("Content-Type", "application/json"),
        ("X-Other", "yes"),
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
    ]


def test_callback_headers_after_a_transport_error_say_503_without_a_type() -> None:
    outcome = Outcome(None, duration=1.5, failure=Failure.CONNECTION, detail="refused")
    headers = dict(callback_headers(CALL, outcome, Attempt(1, 3), user_agent("faasq-queue-worker")))
    assert (headers["X-Function-Status"], "Content-Type" in headers) == ("503", False)
    assert headers["User-Agent"].startswith("faasq-queue-worker/")
