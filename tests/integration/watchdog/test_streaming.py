"""Streaming mode: fork per call, 200 first, stdout streamed as the function writes it."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.polling import eventually
from tests.support.processes import alive
from tests.support.watchdog_process import Start, command, python


async def test_stdin_and_stdout_are_streamed(start: Start, http: httpx.AsyncClient) -> None:
    watchdog = await start({"mode": "streaming", "fprocess": "cat"})
    answer = await http.post(watchdog.url, content=b"hello", headers={"Content-Type": "text/x"})
    assert (answer.status_code, answer.content) == (200, b"hello")
    assert answer.headers["content-type"] == "text/x"
    await watchdog.logged("Wrote 5 Bytes - Duration: ")


async def test_output_arrives_in_order_as_it_is_produced(start: Start, http: httpx.AsyncClient, tmp_path: Path) -> None:
    flag = tmp_path / "go"
    code = (
        "import pathlib, sys, time\n"
        "sys.stdout.write('one\\n'); sys.stdout.flush()\n"
        "sys.stderr.write('to the log\\n'); sys.stderr.flush()\n"
        f"while not pathlib.Path({str(flag)!r}).exists(): time.sleep(0.01)\n"
        "sys.stdout.write('two\\n'); sys.stdout.flush()\n"
        "sys.exit(2)\n"
    )
    watchdog = await start({"mode": "streaming", "fprocess": python(code)})
    async with http.stream("POST", watchdog.url, content=b"") as answer:
        assert answer.status_code == 200  # sent before the function finished
        chunks = answer.aiter_raw()
        assert await anext(chunks) == b"one\n"
        flag.touch()
        rest = b"".join([chunk async for chunk in chunks])
    assert rest == b"two\n"
    await watchdog.logged("fprocess failed after the response started: exit status 2")
    assert "stderr: to the log" in watchdog.logs()


async def test_exec_timeout_cuts_the_stream_and_kills_the_group(
    start: Start, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    script = f'echo started; sleep 30 & echo "$$ $!" > {pids}; wait'
    watchdog = await start({"mode": "streaming", "fprocess": command("sh", "-c", script), "exec_timeout": "500ms"})
    answer = await http.post(watchdog.url, content=b"")
    assert (answer.status_code, answer.text) == (200, "started\n")
    shell, background = (int(pid) for pid in pids.read_text().split())

    async def all_dead() -> bool | None:
        return True if not alive(shell) and not alive(background) else None

    await eventually(all_dead)
    assert "exec_timeout exceeded" in watchdog.logs()
