"""A real ``faasq-provider`` subprocess with functions deployed, for the gateway's and the worker's tests."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.paths import ROOT
from tests.support.polling import until
from tests.support.sockets import bound_socket

__all__ = ["deploy", "provider_script", "running_provider"]


def provider_script() -> str:
    """The ``faasq-provider`` console script next to this interpreter; missing, it is an install bug."""
    script = shutil.which("faasq-provider", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.fail("the faasq-provider console script is missing: pip install -e .[dev]")
    return script


def _healthy(client: httpx.Client, process: subprocess.Popen[bytes]) -> bool | None:
    if process.poll() is not None:
        pytest.fail(f"faasq-provider exited with {process.returncode}")
    try:
        return True if client.get("/healthz").status_code == 200 else None
    except httpx.TransportError:
        return None


def _ready(client: httpx.Client, name: str) -> bool | None:
    status = client.get(f"/system/function/{name}")
    return True if status.status_code == 200 and status.json().get("availableReplicas", 0) > 0 else None


def deploy(client: httpx.Client, functions: Mapping[str, Mapping[str, Any]]) -> None:
    """Deploy each function (name → deployment fields, ``envProcess`` among them) and wait until all are ready."""
    for name, fields in functions.items():
        assert client.post("/system/functions", json={"service": name, "image": "local", **fields}).status_code == 202
    for name in functions:
        until(partial(_ready, client, name), within=20, what=f"{name} was not ready")


@contextmanager
def running_provider(state_dir: Path, functions: Mapping[str, Mapping[str, Any]]) -> Iterator[str]:
    """A ``faasq-provider`` on a kernel-chosen port with ``functions`` deployed and ready; yields its URL."""
    with bound_socket() as sock:
        env = os.environ | {"state_dir": str(state_dir), "listen_fd": str(sock.fileno()), "ready_timeout": "20s"}
        process = subprocess.Popen([provider_script()], env=env, cwd=ROOT, pass_fds=[sock.fileno()])
        base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        with httpx.Client(base_url=base_url, timeout=30) as client:
            until(lambda: _healthy(client, process), within=20, what="faasq-provider was not healthy")
            deploy(client, functions)
        yield base_url
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
