import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from watchdog.app import WatchdogApp
from watchdog.config import WatchdogSettings
from watchdog.runners.base import Receive, Runner, Scope, Send, read_body, send_response


class GatedRunner(Runner):
    """Echoes the body once its gate opens; becomes ready when told."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()
        self.up = asyncio.Event()
        self.stopped = False

    @property
    def ready(self) -> bool:
        return self.up.is_set()

    async def wait_ready(self) -> None:
        await self.up.wait()

    async def shutdown(self) -> None:
        self.stopped = True

    async def invoke(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await read_body(receive)
        self.entered.set()
        await self.gate.wait()
        await send_response(send, 200, body)


@asynccontextmanager
async def lifespan(app: WatchdogApp) -> AsyncIterator[None]:
    inbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    inbox.put_nowait({"type": "lifespan.startup"})
    task = asyncio.create_task(app({"type": "lifespan"}, inbox.get, outbox.put))  # type: ignore[arg-type]
    assert await outbox.get() == {"type": "lifespan.startup.complete"}
    yield
    inbox.put_nowait({"type": "lifespan.shutdown"})
    assert await outbox.get() == {"type": "lifespan.shutdown.complete"}
    await task


def settings(tmp_path: Path, **values: object) -> WatchdogSettings:
    return WatchdogSettings(**{"fprocess": "cat", "lock_path": tmp_path / "lock", **values})  # type: ignore[arg-type]


def client(app: WatchdogApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://watchdog")


async def test_health_is_503_until_ready_then_ok_and_the_lock_file_is_written(tmp_path: Path) -> None:
    runner = GatedRunner()
    app = WatchdogApp(settings(tmp_path), runner)
    async with lifespan(app), client(app) as http:
        for path in ("/_/health", "/_/ready"):
            answer = await http.get(path)
            assert (answer.status_code, answer.content) == (503, b"")
        assert not (tmp_path / "lock").exists()
        runner.up.set()
        await asyncio.sleep(0)  # let the announcer run
        for path in ("/_/health", "/_/ready"):
            answer = await http.get(path)
            assert (answer.status_code, answer.text) == (200, "OK")
        assert (tmp_path / "lock").read_bytes() == b""
    assert runner.stopped
    assert not (tmp_path / "lock").exists()


async def test_suppress_lock_writes_no_file(tmp_path: Path) -> None:
    runner = GatedRunner()
    runner.up.set()
    app = WatchdogApp(settings(tmp_path, suppress_lock=True), runner)
    async with lifespan(app), client(app) as http:
        await asyncio.sleep(0)
        assert (await http.get("/_/health")).status_code == 200
        assert not (tmp_path / "lock").exists()


async def test_drain_removes_the_lock_and_reports_unready(tmp_path: Path) -> None:
    runner = GatedRunner()
    runner.up.set()
    app = WatchdogApp(settings(tmp_path), runner)
    async with lifespan(app), client(app) as http:
        await asyncio.sleep(0)
        assert (tmp_path / "lock").exists()
        app.begin_drain()
        assert not (tmp_path / "lock").exists()
        assert (await http.get("/_/health")).status_code == 503


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS", "TRACE", "PROPFIND"])
async def test_other_methods_are_405(tmp_path: Path, method: str) -> None:
    runner = GatedRunner()
    app = WatchdogApp(settings(tmp_path), runner)
    async with client(app) as http:
        answer = await http.request(method, "/anything")
    assert (answer.status_code, answer.content) == (405, b"")
    assert not runner.entered.is_set()


async def test_max_inflight_answers_429(tmp_path: Path) -> None:
    runner = GatedRunner()
    runner.up.set()
    app = WatchdogApp(settings(tmp_path, max_inflight=1), runner)
    async with lifespan(app), client(app) as http:
        first = asyncio.create_task(http.post("/", content=b"one"))
        await runner.entered.wait()
        second = await http.post("/", content=b"two")
        assert second.status_code == 429
        assert second.text == "Concurrent request limit exceeded. Max concurrent requests: 1\n"
        assert (await http.get("/_/ready")).status_code == 429
        assert (await http.get("/_/health")).status_code == 200
        runner.gate.set()
        answer = await first
        assert (answer.status_code, answer.content) == (200, b"one")
        assert (await http.get("/_/ready")).status_code == 200


async def test_an_unwritable_lock_file_keeps_the_watchdog_unready(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    runner = GatedRunner()
    runner.up.set()
    app = WatchdogApp(settings(tmp_path, lock_path=tmp_path / "missing-dir" / "lock"), runner)
    async with lifespan(app), client(app) as http:
        await asyncio.sleep(0)
        assert (await http.get("/_/health")).status_code == 503
    assert "Cannot write the lock file" in caplog.text
