"""What the connectors' tests share: a restartable gateway, functions that log their calls, the example package.

``install_example`` writes an installed-looking copy of the example connector package: a
dist-info whose entry points are the example's.
"""

from __future__ import annotations

import asyncio
import shlex
import tomllib
import uuid
from collections.abc import Mapping
from pathlib import Path

import httpx
import pytest
import uvicorn

from gateway.app import create_app
from gateway.config import GatewaySettings
from tests.support.paths import ROOT
from tests.support.polling import eventually
from tests.support.sockets import bound_socket

EXAMPLE = ROOT / "examples" / "connectors" / "faasq-lines"


def install_example(site: Path) -> list[Path]:
    """Write ``faasq_lines-0.1.0.dist-info`` into ``site`` from the example's pyproject; the paths to import from."""
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    dist_info = site / "faasq_lines-0.1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    entries = project["entry-points"]
    text = "".join(
        f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in points.items())
        for group, points in entries.items()
    )
    (dist_info / "entry_points.txt").write_text(text)
    return [site, EXAMPLE]


class Gateway:
    """A gateway on a socket of its own that can be stopped and started again at the same URL."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.socket = bound_socket()
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.client = httpx.AsyncClient(base_url=self.url, timeout=30)
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        config = uvicorn.Config(create_app(self.settings), log_config=None, access_log=False, lifespan="on")
        self._server = server = uvicorn.Server(config)
        # A duplicate descriptor: uvicorn closes what it served on, and the URL must outlive a stop.
        task = self._task = asyncio.create_task(server.serve(sockets=[self.socket.dup()]))

        async def started() -> bool | None:
            if task.done():
                pytest.fail(f"the gateway did not start: {task.exception()!r}")
            return True if server.started else None

        await eventually(started, within=10)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
            self._server = self._task = None

    async def close(self) -> None:
        await self.stop()
        await self.client.aclose()
        self.socket.close()


def logging_function(log: Path, *, fail_first: Path | None = None, sleep: float = 0) -> str:
    """An fprocess that appends the call's body and a newline to ``log``.

    With ``fail_first`` it fails its first call; with ``sleep`` it logs start, sleeps, logs end.
    """
    record = f'echo "$(cat)" >> {shlex.quote(str(log))}'
    if sleep:
        record = f"echo start >> {shlex.quote(str(log))}; sleep {sleep}; echo end >> {shlex.quote(str(log))}"
    if fail_first is not None:
        marker = shlex.quote(str(fail_first))
        record = f"if [ -f {marker} ]; then {record}; else touch {marker}; exit 1; fi"
    return f"sh -c {shlex.quote(record)}"


async def deploy(
    gateway: Gateway, name: str, fprocess: str, annotations: Mapping[str, str], *, update: bool = False
) -> None:
    """Deploy (or update) a function through the gateway and wait until it is ready."""
    body = {"service": name, "image": "local", "envProcess": fprocess, "annotations": dict(annotations)}
    response = await gateway.client.request("PUT" if update else "POST", "/system/functions", json=body)
    assert response.status_code == 202, response.text

    async def ready() -> bool | None:
        status = await gateway.client.get(f"/system/function/{name}")
        ok = status.status_code == 200 and status.json().get("availableReplicas", 0) > 0
        return True if ok and status.json().get("annotations") == dict(annotations) else None

    await eventually(ready, within=20)


def lines(path: Path) -> list[str]:
    """The lines a logging function wrote so far."""
    return path.read_text().splitlines() if path.exists() else []


def unique(prefix: str) -> str:
    """A function name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
