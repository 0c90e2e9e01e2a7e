"""Start-up, readiness, the lock file, settings errors and SIGTERM draining."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.polling import eventually
from tests.support.processes import alive
from tests.support.watchdog_process import Start, command


def waiting_function(flag: Path, pids: Path | None = None) -> str:
    record = f'echo "$$" > {pids}; ' if pids else ""
    return command("sh", "-c", f"{record}while [ ! -e {flag} ]; do sleep 0.01; done; echo finished")


async def test_ready_writes_the_lock_file_and_sigterm_removes_it(start: Start, http: httpx.AsyncClient) -> None:
    watchdog = await start({"fprocess": "cat"})
    assert watchdog.lock_path.read_bytes() == b""
    answer = await http.get(watchdog.url + "/_/health")
    assert (answer.status_code, answer.text) == (200, "OK")
    assert (await http.get(watchdog.url + "/_/ready")).text == "OK"
    watchdog.process.terminate()
    assert await watchdog.exited() == 0
    assert not watchdog.lock_path.exists()


async def test_suppress_lock(start: Start) -> None:
    watchdog = await start({"fprocess": "cat", "suppress_lock": "true"})
    assert not watchdog.lock_path.exists()


async def test_logs_the_real_listening_address(start: Start) -> None:
    watchdog = await start({"fprocess": "cat"})
    await watchdog.logged(f"Listening on {watchdog.url}")


async def test_port_and_bind_address_without_listen_fd(tmp_path: Path, http: httpx.AsyncClient) -> None:
    log = tmp_path / "log"
    env = {**os.environ, "fprocess": "cat", "port": "0", "bind_address": "127.0.0.1", "suppress_lock": "true"}
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(sys.executable, "-m", "watchdog", env=env, stderr=out)
    try:

        async def listening() -> str | None:
            found = re.search(r"Listening on (http://127\.0\.0\.1:\d+)", log.read_text())
            return found.group(1) if found else None

        url = await eventually(listening, within=10)
        assert url != "http://127.0.0.1:0"
        answer = await http.post(url, content=b"bound")
        assert answer.text == "bound"
    finally:
        process.terminate()
        assert await process.wait() == 0


async def test_sigterm_drains_in_flight_calls_and_exits_0(
    start: Start, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    flag = tmp_path / "go"
    watchdog = await start({"fprocess": waiting_function(flag)})
    call = asyncio.create_task(http.post(watchdog.url, content=b""))
    await watchdog.logged("Forking fprocess.")
    watchdog.process.terminate()

    async def lock_removed() -> bool | None:
        return True if not watchdog.lock_path.exists() else None

    await eventually(lock_removed)
    assert watchdog.process.returncode is None  # still draining
    flag.touch()
    answer = await call
    assert (answer.status_code, answer.text) == (200, "finished\n")
    assert await watchdog.exited() == 0


async def test_write_timeout_bounds_the_drain(start: Start, http: httpx.AsyncClient, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    watchdog = await start({"fprocess": waiting_function(tmp_path / "never", pids), "write_timeout": "500ms"})
    call = asyncio.create_task(http.post(watchdog.url, content=b""))
    await watchdog.logged("Forking fprocess.")
    watchdog.process.terminate()
    assert await watchdog.exited(within=5) == 0
    with contextlib.suppress(httpx.HTTPError):
        await call
    function = int(pids.read_text())

    async def dead() -> bool | None:
        return True if not alive(function) else None

    await eventually(dead)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, "fprocess (or function_process) is required in serializing mode"),
        ({"fprocess": "cat", "mode": "afterburn"}, "mode: Input should be 'serializing', 'streaming' or 'http'"),
        ({"fprocess": "cat", "exec_timeout": "ten"}, "exec_timeout: invalid duration 'ten'"),
        ({"fprocess": "cat", "listen_fd": "many"}, "listen_fd: Input should be a valid integer"),
        ({"fprocess": "srv", "mode": "http"}, "upstream_url (or http_upstream_url) is required in http mode"),
    ],
)
async def test_invalid_settings_exit_with_one_clear_line(settings: dict[str, str], message: str) -> None:
    env = {name: value for name, value in os.environ.items() if name.lower() not in ("fprocess", "function_process")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "watchdog",
        env={**env, **settings},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 1
    assert out == b""
    lines = err.decode().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("faasq-watchdog: invalid settings: ")
    assert message in lines[0]
