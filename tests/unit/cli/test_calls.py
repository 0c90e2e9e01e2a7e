"""faasq status and faasq cancel against a scripted gateway."""

import json

import httpx

from faasq.calls import summary_lines
from tests.support.cli import Cli

RECORD = {
    "call_id": "order.7:a",
    "function": "resize",
    "namespace": "openfaas-fn",
    "queue": "default",
    "state": "retrying",
    "attempt": 2,
    "max_attempts": 3,
    "enqueued_at": "2026-01-02T03:04:05.000001Z",
    "next_attempt_at": "2026-01-02T03:04:35Z",
    "status_code": 503,
    "duration": 0.25,
    "reason": "HTTP 503",
}


def test_status_prints_a_summary(cli: Cli) -> None:
    cli.routes["GET /async-calls/order.7:a"] = httpx.Response(200, json=RECORD)
    assert cli("status", "order.7:a") == 0
    assert cli.stdout.splitlines() == [
        "Call:         order.7:a",
        "State:        retrying",
        "Attempt:      2 of 3",
        "Function:     resize",
        "Namespace:    openfaas-fn",
        "Queue:        default",
        "Enqueued:     2026-01-02T03:04:05.000001Z",
        "Next attempt: 2026-01-02T03:04:35Z",
        "Status code:  503",
        "Duration (s): 0.25",
        "Reason:       HTTP 503",
    ]


def test_status_as_json(cli: Cli) -> None:
    cli.routes["GET /async-calls/c1"] = httpx.Response(200, json=RECORD | {"call_id": "c1"})
    assert cli("status", "--json", "c1") == 0
    assert json.loads(cli.stdout) == RECORD | {"call_id": "c1"}


def test_a_kept_result_and_a_first_attempt_without_a_limit() -> None:
    record = {"call_id": "c", "state": "succeeded", "attempt": 1, "result": {"size": 9, "truncated": True}}
    assert summary_lines(record) == [
        "Call:    c",
        "State:   succeeded",
        "Attempt: 1",
        "Result:  9 bytes (truncated, text)",
    ]


def test_a_scheduled_call_says_when_it_is_due() -> None:
    record = {"call_id": "c", "state": "scheduled", "queue": "default", "next_attempt_at": "2026-12-04T21:05:45Z"}
    assert summary_lines(record) == [
        "Call:  c",
        "State: scheduled",
        "Queue: default",
        "Due:   2026-12-04T21:05:45Z",
    ]


def test_an_unknown_call(cli: Cli) -> None:
    cli.routes["GET /async-calls/nope"] = httpx.Response(
        404, text="call nope not found: unknown, or its status has expired"
    )
    assert cli("status", "nope") == 1
    assert cli.stderr == "faasq: 404 Not Found: call nope not found: unknown, or its status has expired\n"


def test_cancel(cli: Cli) -> None:
    cli.routes["DELETE /async-calls/c1"] = httpx.Response(202, json=RECORD | {"state": "cancelled"})
    cli.routes["DELETE /async-calls/c2"] = httpx.Response(
        409, text="call c2 is running: only a call that has not started can be cancelled"
    )
    assert cli("cancel", "c1") == 0
    assert cli.stdout == "Call c1 cancelled: it will not run.\n"
    assert cli("cancel", "c2") == 1
    assert cli.stderr == "faasq: 409 Conflict: call c2 is running: only a call that has not started can be cancelled\n"
