"""http mode: fprocess is a long-running HTTP server the watchdog keeps alive and proxies to."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.polling import eventually
from tests.support.processes import alive
from tests.support.watchdog_process import Start, Watchdog, command

UPSTREAM = """
import json, os, pathlib, socket, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, gate = int(sys.argv[1]), pathlib.Path(sys.argv[2])
while not gate.exists():  # lets a test watch the watchdog wait for its upstream
    time.sleep(0.01)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self):
        if self.headers.get("Transfer-Encoding") == "chunked":
            body = b""
            while size := int(self.rfile.readline(), 16):
                body += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith("/slow"):
            time.sleep(30)
        document = {
            "pid": os.getpid(),
            "method": self.command,
            "path": self.path,
            "body": body.decode(),
            "headers": {name.lower(): value for name, value in self.headers.items()},
        }
        out = json.dumps(document).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Upstream", "yes")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = answer

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self):
        # the test holds the kernel-chosen port with SO_REUSEPORT; every restart binds it again
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()


Server(("127.0.0.1", port), Handler).serve_forever()
"""


@pytest.fixture
def upstream_port() -> Iterator[int]:
    """A port the kernel chose, held (never listening) so the upstream can bind it again after each restart."""
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind(("127.0.0.1", 0))
        yield holder.getsockname()[1]


@pytest.fixture
def gate(tmp_path: Path) -> Path:
    return tmp_path / "upstream-may-listen"


@pytest.fixture
def upstream_settings(tmp_path: Path, upstream_port: int, gate: Path) -> dict[str, str]:
    script = tmp_path / "upstream.py"
    script.write_text(UPSTREAM)
    return {
        "mode": "http",
        "fprocess": command(sys.executable, str(script), str(upstream_port), str(gate)),
        "upstream_url": f"http://127.0.0.1:{upstream_port}",
    }


@pytest.fixture
async def proxy(start: Start, upstream_settings: dict[str, str], gate: Path) -> Watchdog:
    await asyncio.to_thread(gate.touch)
    return await start(upstream_settings)


async def test_calls_are_proxied_with_method_path_query_headers_and_body(
    proxy: Watchdog, http: httpx.AsyncClient
) -> None:
    answer = await http.patch(proxy.url + "/a/b%20c?x=1&y=2", content=b"payload", headers={"X-Call-Id": "c1"})
    assert answer.status_code == 201
    assert answer.headers["x-upstream"] == "yes"
    assert answer.headers["content-type"] == "application/json"
    assert float(answer.headers["x-duration-seconds"]) > 0
    seen = answer.json()
    assert (seen["method"], seen["path"], seen["body"]) == ("PATCH", "/a/b%20c?x=1&y=2", "payload")
    assert seen["headers"]["x-call-id"] == "c1"
    assert seen["headers"]["content-length"] == "7"


async def test_streamed_request_body_is_forwarded(proxy: Watchdog, http: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for part in (b"one ", b"two ", b"three"):
            yield part

    answer = await http.post(proxy.url + "/stream", content=chunks())
    assert answer.json()["body"] == "one two three"


async def test_get_without_body_stays_without_body(proxy: Watchdog, http: httpx.AsyncClient) -> None:
    seen = (await http.get(proxy.url + "/")).json()
    assert "transfer-encoding" not in seen["headers"]
    assert seen["body"] == ""


async def test_health_is_503_until_the_upstream_listens(
    start: Start, upstream_settings: dict[str, str], gate: Path, http: httpx.AsyncClient
) -> None:
    watchdog = await start(
        {**upstream_settings, "http_upstream_url": upstream_settings.pop("upstream_url")}, healthy=False
    )
    await watchdog.logged("Started fprocess")
    assert (await http.get(watchdog.url + "/_/health")).status_code == 503
    assert (await http.get(watchdog.url + "/_/ready")).status_code == 503
    assert not watchdog.lock_path.exists()
    await asyncio.to_thread(gate.touch)

    async def healthy() -> bool | None:
        answer = await http.get(watchdog.url + "/_/health")
        return True if (answer.status_code, answer.text) == (200, "OK") else None

    await eventually(healthy)
    assert watchdog.lock_path.exists()


async def test_upstream_that_never_listens_gives_502(
    start: Start, upstream_settings: dict[str, str], http: httpx.AsyncClient
) -> None:
    watchdog = await start(upstream_settings, healthy=False)
    answer = await http.get(watchdog.url + "/")
    assert answer.status_code == 502
    assert answer.text.startswith(f"Can't reach service for: {upstream_settings['upstream_url']}: ")


async def test_exec_timeout_is_504(
    start: Start, upstream_settings: dict[str, str], gate: Path, http: httpx.AsyncClient
) -> None:
    await asyncio.to_thread(gate.touch)
    watchdog = await start({**upstream_settings, "exec_timeout": "300ms"})
    answer = await http.get(watchdog.url + "/slow")
    assert (answer.status_code, answer.text) == (504, "Function did not finish within exec_timeout.\n")


async def test_the_watchdog_exits_when_its_upstream_dies(proxy: Watchdog, http: httpx.AsyncClient) -> None:
    first = (await http.get(proxy.url + "/")).json()["pid"]
    os.kill(first, signal.SIGKILL)
    # of-watchdog: the function's server is gone, so is the watchdog; whoever runs the replica restarts it.
    assert await proxy.exited() == 1
    assert "Forked function has terminated: signal: killed" in proxy.logs()


HOLDS_NOTHING = """
import socket, sys, time
while True:  # a server that cannot get its port: it keeps trying, as some do
    try:
        socket.create_server(("127.0.0.1", int(sys.argv[1])))
    except OSError:
        time.sleep(0.05)
        continue
    time.sleep(3600)
"""


async def test_a_port_held_by_another_process_is_never_proxied_to(
    start: Start, tmp_path: Path, http: httpx.AsyncClient
) -> None:
    script = tmp_path / "late.py"
    script.write_text(HOLDS_NOTHING)
    with socket.create_server(("127.0.0.1", 0)) as other:  # another function's server holds the port
        other.setblocking(False)
        port = other.getsockname()[1]
        settings = {"mode": "http", "fprocess": command(sys.executable, str(script), str(port))}
        watchdog = await start({**settings, "upstream_url": f"http://127.0.0.1:{port}"}, healthy=False)
        reason = f"port {port} is held by another process"
        await watchdog.logged(f"Not ready: {reason}")
        health = await http.get(watchdog.url + "/_/health")
        assert (health.status_code, health.text) == (503, reason)
        call = await http.get(watchdog.url + "/")
        assert (call.status_code, call.text) == (502, f"Can't reach service for: http://127.0.0.1:{port}: {reason}\n")
        with pytest.raises(BlockingIOError):
            other.accept()  # nothing was sent to the other process
        assert not watchdog.lock_path.exists()


async def test_shutdown_stops_the_upstream(proxy: Watchdog, http: httpx.AsyncClient) -> None:
    pid = (await http.get(proxy.url + "/")).json()["pid"]
    proxy.process.terminate()
    assert await proxy.exited() == 0
    assert not alive(pid)
