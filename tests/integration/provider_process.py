"""A real ``faasq-provider`` subprocess with functions deployed, for the gateway's and the worker's tests."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.provider.test_api import ROOT, provider_script
from tests.support import bound_socket

__all__ = ["deploy", "poll", "running_provider"]


def poll(check: Callable[[], bool], within: float, what: str) -> None:
    """Call ``check`` until it is true; fail the test with ``what`` after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {within:g}s")
        time.sleep(0.02)


def _healthy(client: httpx.Client, process: subprocess.Popen[bytes]) -> bool:
    if process.poll() is not None:
        pytest.fail(f"faasq-provider exited with {process.returncode}")
    try:
        return client.get("/healthz").status_code == 200
    except httpx.TransportError:
        return False


def _ready(client: httpx.Client, name: str) -> bool:
    status = client.get(f"/system/function/{name}")
    return status.status_code == 200 and status.json().get("availableReplicas", 0) > 0


def deploy(client: httpx.Client, functions: Mapping[str, Mapping[str, Any]]) -> None:
    """Deploy each function (name → deployment fields, ``envProcess`` among them) and wait until all are ready."""
    for name, fields in functions.items():
        assert client.post("/system/functions", json={"service": name, "image": "local", **fields}).status_code == 202
    for name in functions:
        poll(partial(_ready, client, name), 20, f"{name} was not ready")


@contextmanager
def running_provider(state_dir: Path, functions: Mapping[str, Mapping[str, Any]]) -> Iterator[str]:
    """A ``faasq-provider`` on a kernel-chosen port with ``functions`` deployed and ready; yields its URL."""
    with bound_socket() as sock:
        env = os.environ | {"state_dir": str(state_dir), "listen_fd": str(sock.fileno()), "ready_timeout": "20s"}
        process = subprocess.Popen([provider_script()], env=env, cwd=ROOT, pass_fds=[sock.fileno()])
        base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        with httpx.Client(base_url=base_url, timeout=30) as client:
            poll(lambda: _healthy(client, process), 20, "faasq-provider was not healthy")
            deploy(client, functions)
        yield base_url
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
