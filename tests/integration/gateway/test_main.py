"""``faasq-gateway`` as a subprocess: serves on an inherited socket, exits 0 after SIGTERM, 3 without NATS."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from pathlib import Path

import httpx
import pytest
from nats.aio.client import Client

from faasq.natsserver import NatsServer
from tests.support.gateway_process import stored
from tests.support.paths import ROOT
from tests.support.polling import eventually
from tests.support.sockets import bound_socket

pytestmark = pytest.mark.integration


def gateway_script() -> str:
    script = shutil.which("faasq-gateway", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.fail("the faasq-gateway console script is missing: pip install -e .[dev]")
    return script


async def start(env: dict[str, str]) -> tuple[asyncio.subprocess.Process, str]:
    with bound_socket() as sock:
        env = os.environ | env | {"listen_fd": str(sock.fileno())}
        process = await asyncio.create_subprocess_exec(
            gateway_script(), env=env, cwd=ROOT, pass_fds=[sock.fileno()], stderr=asyncio.subprocess.PIPE
        )
        return process, f"http://127.0.0.1:{sock.getsockname()[1]}"


async def test_serves_then_exits_0_after_sigterm(
    provider_url: str, nats_server: NatsServer, nc: Client, unique_stream: str
) -> None:
    env = {
        "functions_provider_url": provider_url,
        "faas_nats_port": str(nats_server.port),
        "faas_nats_channel": unique_stream,
    }
    process, url = await start(env)
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:

        async def healthy() -> bool | None:
            if process.returncode is not None:
                pytest.fail(f"faasq-gateway exited with {process.returncode}")
            try:
                return True if (await client.get("/healthz")).status_code == 200 else None
            except httpx.TransportError:
                return None

        await eventually(healthy, within=15)
        response = await client.post("/async-function/echo", content=b"via the script")
        assert response.status_code == 202
    process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), 15) == 0
    [message] = await stored(nc, unique_stream)
    assert message.data == b"via the script"


async def test_exits_3_with_a_clear_line_when_nats_is_unreachable(tmp_path: Path) -> None:
    with bound_socket() as unused:  # a port nothing answers NATS on
        port = unused.getsockname()[1]
    env = {"functions_provider_url": "http://127.0.0.1:9", "faas_nats_port": str(port), "nats_connect_timeout": "0.5s"}
    process, _ = await start(env)
    _, stderr = await asyncio.wait_for(process.communicate(), 15)
    assert process.returncode == 3
    assert f"cannot connect to NATS at nats://127.0.0.1:{port} within 0.5s" in stderr.decode()


async def test_exits_with_one_line_on_missing_credentials(tmp_path: Path) -> None:
    env = {"functions_provider_url": "http://127.0.0.1:9", "basic_auth": "true", "secret_mount_path": str(tmp_path)}
    process, _ = await start(env)
    _, stderr = await asyncio.wait_for(process.communicate(), 15)
    assert process.returncode == 1
    [line] = stderr.decode().strip().splitlines()
    assert line.startswith("faasq-gateway: cannot read the basic auth credentials: ")
    assert "basic-auth-user" in line
