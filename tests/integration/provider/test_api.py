"""``faasq-provider`` as a subprocess on a kernel-chosen port, over the real local provider and watchdog."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.paths import ROOT
from tests.support.polling import eventually
from tests.support.provider_process import provider_script
from tests.support.sockets import bound_socket

pytestmark = pytest.mark.integration

PRINT_ENV = 'import os; print("\\n".join(f"{k}={v}" for k, v in sorted(os.environ.items()) if k.startswith("Http_")))'


class RunningProvider:
    """One ``faasq-provider`` process; ``client`` talks to it."""

    def __init__(self, process: asyncio.subprocess.Process, client: httpx.AsyncClient) -> None:
        self.process = process
        self.client = client

    async def stop(self) -> None:
        """SIGTERM, as a supervisor would: a graceful stop that exits 0."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        await self.client.aclose()
        assert await asyncio.wait_for(self.process.wait(), 30) == 0


async def start_provider(state_dir: Path) -> RunningProvider:
    script = provider_script()
    with bound_socket() as sock:
        env = os.environ | {"state_dir": str(state_dir), "listen_fd": str(sock.fileno()), "ready_timeout": "20s"}
        process = await asyncio.create_subprocess_exec(script, env=env, cwd=ROOT, pass_fds=[sock.fileno()])
        base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    client = httpx.AsyncClient(base_url=base_url, timeout=30)
    running = RunningProvider(process, client)

    async def healthy() -> bool | None:
        if process.returncode is not None:
            pytest.fail(f"faasq-provider exited with {process.returncode}")
        try:
            return True if (await client.get("/healthz")).status_code == 200 else None
        except httpx.TransportError:
            return None

    await eventually(healthy, within=20)
    return running


@pytest.fixture
async def provider(tmp_path: Path) -> AsyncIterator[RunningProvider]:
    running = await start_provider(tmp_path / "state")
    try:
        yield running
    finally:
        await running.stop()


async def deploy(client: httpx.AsyncClient, name: str, env_process: str, **fields: Any) -> None:
    body = {"service": name, "image": "local", "envProcess": env_process, "labels": {}, "annotations": {}} | fields
    response = await client.post("/system/functions", json=body)
    assert (response.status_code, response.text) == (202, "")

    async def ready() -> bool | None:
        status = await client.get(f"/system/function/{name}")
        return True if status.status_code == 200 and status.json().get("availableReplicas", 0) > 0 else None

    await eventually(ready, within=20)


async def test_invoke_echoes_the_body_with_call_id_and_duration(provider: RunningProvider) -> None:
    await deploy(provider.client, "cat", "cat")
    response = await provider.client.post("/function/cat", content=b"hello, faasq\n")
    assert (response.status_code, response.content) == (200, b"hello, faasq\n")
    assert float(response.headers["x-duration-seconds"]) > 0
    uuid.UUID(response.headers["x-call-id"])
    assert len(response.headers.get_list("date")) == 1
    qualified = await provider.client.put("/function/cat.openfaas-fn", content=b"by namespace")
    assert (qualified.status_code, qualified.content) == (200, b"by namespace")
    listed = (await provider.client.get("/system/functions")).json()
    assert [(f["name"], f["invocationCount"]) for f in listed] == [("cat", 2)]


async def test_path_query_and_call_id_reach_the_function(provider: RunningProvider) -> None:
    await deploy(provider.client, "env", f"{sys.executable} -c '{PRINT_ENV}'")
    response = await provider.client.get("/function/env/a/b?x=1&y=two", headers={"X-Call-Id": "call-1"})
    assert response.status_code == 200
    env = dict(line.split("=", 1) for line in response.text.splitlines())
    assert (env["Http_Path"], env["Http_Query"], env["Http_Method"]) == ("/a/b", "x=1&y=two", "GET")
    assert env["Http_X_Call_Id"] == "call-1"
    assert response.headers["x-call-id"] == "call-1"


async def test_a_large_body_streams_through(provider: RunningProvider) -> None:
    await deploy(provider.client, "cat", "cat")
    payload = os.urandom(5 * 1024 * 1024)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(payload), 256 * 1024):
            yield payload[start : start + 256 * 1024]

    response = await provider.client.post("/function/cat", content=chunks())
    assert response.status_code == 200
    assert len(response.content) == len(payload)
    assert response.content == payload


async def test_scale_to_zero_then_invoke_scales_from_zero(provider: RunningProvider) -> None:
    await deploy(provider.client, "cat", "cat")
    scaled = await provider.client.post("/system/scale-function/cat", json={"serviceName": "cat", "replicas": 0})
    assert scaled.status_code == 202

    async def idle() -> bool | None:
        status = (await provider.client.get("/system/function/cat")).json()
        return True if status.get("availableReplicas", 0) == 0 else None

    await eventually(idle, within=20)
    response = await provider.client.post("/function/cat", content=b"woken")
    assert (response.status_code, response.content) == (200, b"woken")
    assert (await provider.client.get("/system/function/cat")).json()["availableReplicas"] >= 1


async def test_follow_logs_as_ndjson(provider: RunningProvider) -> None:
    await deploy(provider.client, "noisy", "sh -c 'echo to-the-log >&2; cat'", envVars={"combine_output": "false"})
    params = {"name": "noisy", "follow": "true"}
    async with provider.client.stream("GET", "/system/logs", params=params) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"] == "application/x-ndjson"
        invoked = await provider.client.post("/function/noisy", content=b"body")
        assert (invoked.status_code, invoked.content) == (200, b"body")
        lines = stream.aiter_lines()

        async def marker() -> dict[str, Any] | None:
            line = json.loads(await anext(lines))
            return line if "to-the-log" in line["text"] else None

        line = await eventually(marker, within=10)
    assert (line["name"], line["namespace"]) == ("noisy", "openfaas-fn")
    assert {"instance", "timestamp"} <= set(line)


async def test_unknown_function_is_404(provider: RunningProvider) -> None:
    response = await provider.client.post("/function/nothing", content=b"x")
    assert response.status_code == 404
    assert response.headers["x-openfaas-internal"] == "proxy"
    missing = await provider.client.get("/system/function/nothing")
    assert (missing.status_code, missing.text) == (404, "function 'nothing' not found in namespace 'openfaas-fn'")


async def test_functions_survive_a_provider_restart(tmp_path: Path) -> None:
    first = await start_provider(tmp_path / "state")
    try:
        await deploy(first.client, "cat", "cat")
    finally:
        await first.stop()
    second = await start_provider(tmp_path / "state")
    try:
        response = await second.client.post("/function/cat", content=b"again")
        assert (response.status_code, response.content) == (200, b"again")
        assert [f["name"] for f in (await second.client.get("/system/functions")).json()] == ["cat"]
    finally:
        await second.stop()


async def test_bad_settings_exit_with_one_clear_line(tmp_path: Path) -> None:
    env = os.environ | {"state_dir": str(tmp_path), "port": "not-a-port"}
    process = await asyncio.create_subprocess_exec(
        provider_script(), env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 1
    assert out == b""
    lines = err.decode().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("faasq-provider: invalid settings: port: ")
