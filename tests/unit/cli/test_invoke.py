"""invoke: stdin to the function, raw bytes back, faas-cli's flags and async answer."""

import hashlib
import hmac

import httpx
import pytest

from faasq.context import parse_pairs
from faasq.errors import CliError
from faasq.invoke import function_path
from tests.support.cli import Cli


def test_sync_invoke_posts_stdin_and_writes_raw_bytes(cli: Cli) -> None:
    cli.routes["POST /function/echo"] = lambda r: httpx.Response(200, content=r.content + b"\x00\xff")
    cli.stdin = b"hi\n"
    assert cli("invoke", "echo") == 0
    request = cli.requests[0]
    assert (request.content, request.headers["Content-Type"]) == (b"hi\n", "text/plain")
    assert cli.raw_stdout == b"hi\n\x00\xff"
    assert cli.stderr == ""


def test_raw_output_bytes(cli: Cli) -> None:
    cli.routes["POST /function/bin"] = httpx.Response(200, content=b"ok\n")
    assert cli("invoke", "bin") == 0
    assert cli.stdout == "ok\n"


def test_flags_shape_the_request(cli: Cli) -> None:
    cli.routes["PUT /function/echo.ns1"] = httpx.Response(200, text="")
    assert (
        cli(
            "invoke", "echo", "-n", "ns1", "-m", "put", "--content-type", "application/json",
            "-H", "X-A=1", "-H", "X-B=a=b", "--query", "q=1", "--query", "r=",
        )
        == 0
    )  # fmt: skip
    request = cli.requests[0]
    assert request.url.path == "/function/echo.ns1"
    assert request.url.query == b"q=1&r="
    assert (request.headers["X-A"], request.headers["X-B"]) == ("1", "a=b")
    assert request.headers["Content-Type"] == "application/json"


def test_async_invoke_prints_the_call_id(cli: Cli) -> None:
    cli.routes["POST /async-function/echo"] = httpx.Response(202, headers={"X-Call-Id": "abc-123"})
    assert cli("invoke", "--async", "echo", "-H", "X-Callback-Url=http://cb") == 0
    assert cli.requests[0].headers["X-Callback-Url"] == "http://cb"
    assert cli.stderr == "Function submitted asynchronously.\n"
    assert cli.stdout == "abc-123\n"


def test_failure_prints_the_body_to_stderr(cli: Cli) -> None:
    cli.routes["POST /function/nope"] = httpx.Response(503, text="No endpoints available for: nope.")
    assert cli("invoke", "nope") == 1
    assert cli.stdout == ""
    assert cli.stderr == "Server returned unexpected status code: 503 - No endpoints available for: nope.\n"


def test_async_other_than_202_is_a_failure(cli: Cli) -> None:
    cli.routes["POST /async-function/nope"] = httpx.Response(404, text="function not found\n")
    assert cli("invoke", "-a", "nope") == 1
    assert cli.stderr == "Server returned unexpected status code: 404 - function not found\n"


def test_sign_adds_the_hmac_header(cli: Cli) -> None:
    cli.routes["POST /function/hook"] = httpx.Response(200)
    cli.stdin = b"payload"
    assert cli("invoke", "hook", "--sign", "X-Hub-Signature", "--key", "secret") == 0
    digest = hmac.new(b"secret", b"payload", hashlib.sha256).hexdigest()
    assert cli.requests[0].headers["X-Hub-Signature"] == f"sha256={digest}"
    assert cli("invoke", "hook", "--sign", "X-Hub-Signature") == 1
    assert "--sign and --key go together" in cli.stderr


def test_bad_pairs_are_rejected(cli: Cli) -> None:
    assert cli("invoke", "echo", "-H", "novalue") == 1
    assert cli.stderr == "faasq: invalid header 'novalue': use key=value\n"
    with pytest.raises(CliError, match="invalid query '=x'"):
        parse_pairs(["=x"], "query")


def test_function_path_quotes() -> None:
    assert function_path("a b", None, asynchronous=False) == "/function/a%20b"
    assert function_path("f", "ns", asynchronous=True) == "/async-function/f.ns"


def test_async_invoke_with_a_callback_url(cli: Cli) -> None:
    cli.routes["POST /async-function/echo"] = httpx.Response(202, headers={"X-Call-Id": "id-1"})
    assert cli("invoke", "echo", "--async", "--callback-url", "http://127.0.0.1:9000/cb") == 0
    assert cli.requests[0].headers["X-Callback-Url"] == "http://127.0.0.1:9000/cb"
    assert cli.stdout == "id-1\n"


def test_a_callback_url_needs_async(cli: Cli) -> None:
    assert cli("invoke", "echo", "--callback-url", "http://127.0.0.1:9000/cb") == 1
    assert cli.requests == []
    assert cli.stderr == "faasq: --callback-url needs --async: only an asynchronous call has a callback\n"
