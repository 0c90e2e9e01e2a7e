"""Serializing mode (the classic watchdog): fork per call, buffered output."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from tests.support.polling import eventually
from tests.support.processes import alive
from tests.support.watchdog_process import Start, command, python

PRINT_HTTP_ENV = python(
    "import json, os, sys; "
    "json.dump({k: v for k, v in os.environ.items() if k.startswith('Http_')}, sys.stdout, sort_keys=True)"
)


async def test_body_in_stdout_out_with_duration_and_logs(start: Start, http: httpx.AsyncClient) -> None:
    watchdog = await start({"fprocess": "cat"})
    answer = await http.post(watchdog.url + "/any/path", content=b"hello", headers={"Content-Type": "text/x-test"})
    assert (answer.status_code, answer.content) == (200, b"hello")
    assert answer.headers["content-type"] == "text/x-test"
    assert float(answer.headers["x-duration-seconds"]) > 0
    await watchdog.logged("Wrote 5 Bytes - Duration: ")
    assert "Forking fprocess." in watchdog.logs()


async def test_function_process_alias_and_no_content_type_when_none_given(
    start: Start, http: httpx.AsyncClient
) -> None:
    watchdog = await start({"function_process": "cat"})
    answer = await http.put(watchdog.url, content=b"x")
    assert (answer.status_code, answer.content) == (200, b"x")
    assert "content-type" not in answer.headers


async def test_content_type_setting_forces_the_response_type(start: Start, http: httpx.AsyncClient) -> None:
    watchdog = await start({"fprocess": "cat", "content_type": "application/json"})
    answer = await http.post(watchdog.url, content=b"{}", headers={"Content-Type": "text/plain"})
    assert answer.headers["content-type"] == "application/json"


async def test_fprocess_is_not_run_by_a_shell(start: Start, http: httpx.AsyncClient) -> None:
    watchdog = await start({"fprocess": "echo $HOME 'two words' ; ls"})
    answer = await http.get(watchdog.url)
    assert answer.text == "$HOME two words ; ls\n"


async def test_cgi_headers(start: Start, http: httpx.AsyncClient) -> None:
    watchdog = await start({"fprocess": PRINT_HTTP_ENV})
    host = watchdog.url.removeprefix("http://")
    answer = await http.post(
        watchdog.url + "/a/b?x=1&y=two",
        content=b"12345",
        headers={"X-Call-Id": "abc", "Content-Type": "text/plain", "User-Agent": "tests"},
    )
    assert answer.status_code == 200
    assert answer.json() == {
        "Http_Accept": "*/*",
        "Http_Accept_Encoding": "gzip, deflate",
        "Http_Connection": "keep-alive",
        "Http_ContentLength": "5",
        "Http_Content_Length": "5",
        "Http_Content_Type": "text/plain",
        "Http_Host": host,
        "Http_Method": "POST",
        "Http_Path": "/a/b",
        "Http_Query": "x=1&y=two",
        "Http_User_Agent": "tests",
        "Http_X_Call_Id": "abc",
    }


async def test_cgi_headers_of_a_chunked_request(start: Start, http: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"ab"
        yield b"cd"

    watchdog = await start({"fprocess": PRINT_HTTP_ENV})
    answer = await http.post(watchdog.url, content=chunks())
    env = answer.json()
    assert (env["Http_ContentLength"], env["Http_Content_Length"]) == ("-1", "-1")
    assert env["Http_Transfer_Encoding"] == "chunked"
    assert "Http_Query" not in env


async def test_cgi_headers_off(start: Start, http: httpx.AsyncClient) -> None:
    watchdog = await start({"fprocess": PRINT_HTTP_ENV, "cgi_headers": "false"})
    answer = await http.post(watchdog.url + "/p?q=1", content=b"x", headers={"X-A": "b"})
    assert answer.json() == {}


async def test_marshal_request(start: Start, http: httpx.AsyncClient) -> None:
    watchdog = await start({"fprocess": "cat", "marshal_request": "true"})
    answer = await http.post(watchdog.url, content=b"\x00\xffdata", headers={"X-A": "b"})
    document = json.loads(answer.content)
    assert base64.b64decode(document["body"]["raw"]) == b"\x00\xffdata"
    assert document["header"]["X-A"] == ["b"]
    assert document["header"]["Content-Length"] == ["6"]
    assert set(document) == {"header", "body"}


async def test_non_zero_exit_is_500_with_the_combined_output(start: Start, http: httpx.AsyncClient) -> None:
    watchdog = await start({"fprocess": command("sh", "-c", "echo out; echo err >&2; exit 3")})
    answer = await http.post(watchdog.url, content=b"")
    assert (answer.status_code, answer.text) == (500, "exit status 3\nout\nerr\n")


async def test_combine_output_off_sends_stderr_to_the_log_only(start: Start, http: httpx.AsyncClient) -> None:
    script = 'echo out; echo "err-$1" >&2; exit "$1"'
    watchdog = await start({"fprocess": command("sh", "-c", script, "sh", "0"), "combine_output": "false"})
    answer = await http.post(watchdog.url, content=b"")
    assert (answer.status_code, answer.text) == (200, "out\n")
    await watchdog.logged("stderr: err-0")


async def test_combine_output_off_failure_body_is_stdout(start: Start, http: httpx.AsyncClient) -> None:
    script = "echo out; echo err-failing >&2; exit 4"
    watchdog = await start({"fprocess": command("sh", "-c", script), "combine_output": "false"})
    answer = await http.post(watchdog.url, content=b"")
    assert (answer.status_code, answer.text) == (500, "exit status 4\nout\n")
    await watchdog.logged("stderr: err-failing")


async def test_exec_timeout_kills_the_process_group_with_408(
    start: Start, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    script = f'sleep 30 & echo "$$ $!" > {pids}; wait'
    watchdog = await start({"fprocess": command("sh", "-c", script), "exec_timeout": "500ms"})
    answer = await http.post(watchdog.url, content=b"")
    assert answer.status_code == 408
    assert (
        answer.text == "Killed process.\nfprocess ran longer than exec_timeout (0.5s); its process group was killed.\n"
    )
    shell, background = (int(pid) for pid in pids.read_text().split())

    async def all_dead() -> bool | None:
        return True if not alive(shell) and not alive(background) else None

    await eventually(all_dead)


async def test_max_inflight_answers_429(start: Start, http: httpx.AsyncClient, tmp_path: Path) -> None:
    flag = tmp_path / "go"
    script = f"while [ ! -e {flag} ]; do sleep 0.01; done; echo done"
    watchdog = await start({"fprocess": command("sh", "-c", script), "max_inflight": "1"})
    first = asyncio.create_task(http.post(watchdog.url, content=b""))

    async def at_limit() -> bool | None:
        return True if (await http.get(watchdog.url + "/_/ready")).status_code == 429 else None

    await eventually(at_limit)
    second = await http.post(watchdog.url, content=b"")
    assert (second.status_code, second.text) == (
        429,
        "Concurrent request limit exceeded. Max concurrent requests: 1\n",
    )
    assert (await http.get(watchdog.url + "/_/health")).status_code == 200
    flag.touch()
    answer = await first
    assert (answer.status_code, answer.text) == (200, "done\n")


async def test_unsupported_methods_are_405(start: Start, http: httpx.AsyncClient) -> None:
    watchdog = await start({"fprocess": "cat"})
    for method in ("HEAD", "OPTIONS", "TRACE", "CONNECT", "PROPFIND"):
        answer = await http.request(method, watchdog.url + "/x")
        assert (method, answer.status_code, answer.content) == (method, 405, b"")
    assert "Forking fprocess." not in watchdog.logs()


async def test_write_debug_logs_bodies(start: Start, http: httpx.AsyncClient) -> None:
    watchdog = await start({"fprocess": command("tr", "a-z", "A-Z"), "write_debug": "true"})
    answer = await http.post(watchdog.url, content=b"secret-body")
    assert answer.text == "SECRET-BODY"
    await watchdog.logged("Request: b'secret-body' Response: b'SECRET-BODY'")


async def test_read_timeout_answers_408_to_a_stalled_body(start: Start) -> None:
    watchdog = await start({"fprocess": "cat", "read_timeout": "300ms"})
    host, port = watchdog.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab")
    await writer.drain()
    async with asyncio.timeout(5):
        head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ")
    writer.close()
    assert "Forking fprocess." not in watchdog.logs()


async def test_missing_command_fails_at_start(start: Start) -> None:
    watchdog = await start({"fprocess": "no-such-command-anywhere --flag"}, healthy=False)
    assert await watchdog.exited() != 0
    assert watchdog.logs().strip() == (
        "faasq-watchdog: invalid settings: fprocess command not found: no-such-command-anywhere"
    )
