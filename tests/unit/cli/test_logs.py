"""logs: faas-cli's query, NDJSON in, ``timestamp name (instance) text`` out."""

import argparse
import json
from datetime import UTC, datetime

import httpx
import pytest

from faasq.errors import CliError
from faasq.logs import query, since_timestamp
from tests.support.cli import Cli

NOW = datetime(2026, 11, 23, 9, 0, 0, tzinfo=UTC)


def ndjson(*messages: dict[str, str]) -> bytes:
    return b"".join(json.dumps(m).encode() + b"\n" for m in messages)


def test_logs_prints_each_line(cli: Cli) -> None:
    line = {"name": "echo", "namespace": "openfaas-fn", "instance": "echo-1", "text": "Forking fprocess.\n"}
    body = ndjson(
        {**line, "timestamp": "2026-11-23T08:59:00.123456789Z"},
        {**line, "timestamp": "2026-11-23T09:59:00+01:00", "text": "second"},
    )
    cli.routes["GET /system/logs"] = httpx.Response(200, content=body + b"\nnot json\n")
    assert cli("logs", "echo", "--tail", "5", "--no-follow", "--instance", "echo-1") == 0
    assert dict(cli.requests[0].url.params) == {"name": "echo", "follow": "false", "instance": "echo-1", "tail": "5"}
    assert cli.stdout == (
        "2026-11-23T08:59:00.123456Z echo (echo-1) Forking fprocess.\n2026-11-23T08:59:00Z echo (echo-1) second\n"
    )
    assert cli.stderr == "unreadable log line: not json\n"


def test_logs_follow_by_default(cli: Cli) -> None:
    cli.routes["GET /system/logs"] = httpx.Response(200, content=b"")
    assert cli("logs", "echo", "-n", "ns") == 0
    assert dict(cli.requests[0].url.params) == {"name": "echo", "follow": "true", "namespace": "ns"}


def test_logs_of_an_unknown_function(cli: Cli) -> None:
    cli.routes["GET /system/logs"] = httpx.Response(404, text="function 'nope' not found")
    assert cli("logs", "nope") == 1
    assert cli.stderr == "faasq: 404 Not Found: function 'nope' not found\n"


@pytest.mark.parametrize(
    ("since", "expected"),
    [
        ("5m", "2026-11-23T08:55:00Z"),
        ("1h30m", "2026-11-23T07:30:00Z"),
        ("90", "2026-11-23T08:58:30Z"),
        ("2026-11-22T10:00:00Z", "2026-11-22T10:00:00Z"),
        ("2026-11-22T10:00:00+02:00", "2026-11-22T08:00:00Z"),
        ("2026-11-22T10:00:00", "2026-11-22T10:00:00Z"),
    ],
)
def test_since(since: str, expected: str) -> None:
    assert since_timestamp(since, NOW) == expected


def test_bad_since() -> None:
    with pytest.raises(CliError, match="invalid --since 'yesterday'"):
        since_timestamp("yesterday", NOW)


def test_query_with_since() -> None:
    args = argparse.Namespace(name="f", follow=True, namespace=None, instance=None, tail=None, since="1m")
    assert query(args, NOW) == {"name": "f", "follow": "true", "since": "2026-11-23T08:59:00Z"}
