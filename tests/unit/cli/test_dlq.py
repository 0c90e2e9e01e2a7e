"""faasq dlq: the requests it sends and what it prints."""

from __future__ import annotations

import httpx
import pytest

from faasq.dlq import list_lines, show_lines
from tests.support.cli import Cli

ITEM = {
    "callId": "c-1", "function": "fail", "namespace": "openfaas-fn", "queue": "default", "kind": "function",
    "reason": "HTTP 500 after 3 attempts", "status": "500", "attempts": 3, "deadAt": "2026-01-02T03:04:05.678Z",
    "enqueuedAt": "2026-01-02T03:04:00Z", "method": "POST", "path": "/p", "query": "a=1", "callbackUrl": None,
    "bodyBytes": 2, "seq": 9,
}  # fmt: skip


def test_list_table() -> None:
    long = {**ITEM, "callId": "c-2", "namespace": "", "reason": "x" * 100}
    assert list_lines([ITEM, long]) == [
        f"{'Call ID':<36}\t{'Function':<20}\t{'Kind':<8}\t{'Status':<16}\t{'Attempts':<8}\t{'Dead at':<20}\tReason",
        f"{'c-1':<36}\t{'fail.openfaas-fn':<20}\t{'function':<8}\t{'500':<16}\t{'3':<8}\t{'2026-01-02 03:04:05':<20}\t"
        "HTTP 500 after 3 attempts",
        f"{'c-2':<36}\t{'fail':<20}\t{'function':<8}\t{'500':<16}\t{'3':<8}\t{'2026-01-02 03:04:05':<20}\t"
        + "x" * 58 + "..",
    ]  # fmt: skip


def test_show_text_and_binary_bodies() -> None:
    text = show_lines({**ITEM, "headers": [["x-a", "1"], ["x-b", "2"]], "body": "aGk=", "bodyText": "hi"})
    assert text[:3] == ["Call ID:       c-1", "Function:      fail", "Namespace:     openfaas-fn"]
    assert "Request:       POST /p?a=1" in text
    assert "Callback URL:" in text
    assert text[-4:] == ["Headers:       x-a: 1", "               x-b: 2", "Body:          2 bytes", "hi"]
    binary = show_lines({**ITEM, "query": "", "body": "/w==", "bodyText": None})
    assert "Request:       POST /p" in binary
    assert binary[-2:] == ["Body:          2 bytes, base64", "/w=="]
    stored = show_lines({**ITEM, "bodyBytes": 0, "body": "", "bodyText": "", "bodyObject": "c-1"})
    assert stored[-1] == "Body:          too large for a message: kept in the body bucket as 'c-1'"


def test_list_sends_the_filters_and_shows_where_the_next_page_is(cli: Cli) -> None:
    cli.routes["GET /system/dead-letters"] = httpx.Response(200, json={"items": [ITEM], "nextCursor": "9"})
    assert cli("dlq", "list", "--function", "fail", "-n", "ns", "--since", "1h", "--limit", "1", "-g", "http://gw") == 0
    assert str(cli.requests[0].url) == "http://gw/system/dead-letters?function=fail&namespace=ns&since=1h&limit=1"
    assert len(cli.stdout.splitlines()) == 2
    assert cli.stderr.strip() == "More dead letters: add --cursor 9"


def test_redrive_and_purge_one_or_all(cli: Cli) -> None:
    cli.routes["POST /system/dead-letters/a.1/redrive"] = httpx.Response(202, json={"redriven": ["a.1"]})
    cli.routes["POST /system/dead-letters/redrive"] = httpx.Response(202, json={"redriven": ["a", "b"]})
    cli.routes["DELETE /system/dead-letters"] = httpx.Response(200, json={"purged": []})
    assert cli("dlq", "redrive", "a.1") == 0
    assert cli.stdout.splitlines() == ["Redriven: a.1", "1 dead letter queued again."]
    assert cli("dlq", "redrive", "--all", "--function", "f") == 0
    assert cli.stdout.splitlines() == ["Redriven: a", "Redriven: b", "2 dead letters queued again."]
    assert cli("dlq", "purge", "--all") == 0
    assert cli.stdout.splitlines() == ["0 dead letters purged."]
    assert [str(r.url).split("8080")[1] for r in cli.requests] == [
        "/system/dead-letters/a.1/redrive", "/system/dead-letters/redrive?function=f", "/system/dead-letters",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["redrive"], "faasq: dlq redrive: name a CALL_ID or use --all"),
        (["purge", "c", "--all"], "faasq: dlq purge: name a CALL_ID or use --all"),
        (["purge", "c", "--function", "f"], "faasq: dlq purge: --function, --namespace and --since go with --all"),
    ],
)
def test_one_or_all_but_not_both(cli: Cli, argv: list[str], error: str) -> None:
    assert cli("dlq", *argv) == 1
    assert cli.stderr.startswith(error)
    assert cli.requests == []


def test_an_unknown_call_id_is_one_line(cli: Cli) -> None:
    cli.routes["GET /system/dead-letters/nope"] = httpx.Response(404, json={"detail": "no dead letter for call 'nope'"})
    assert cli("dlq", "show", "nope") == 1
    assert cli.stderr == "faasq: 404 Not Found: no dead letter for call 'nope'\n"
