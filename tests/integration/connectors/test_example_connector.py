"""The example connector, installed as a third-party package, run by ``faasq-connector`` against the real gateway."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from tests.support.connector_kit import Gateway, deploy, install_example, lines, logging_function, unique
from tests.support.paths import ROOT

pytestmark = pytest.mark.integration


async def test_each_line_reaches_the_topics_functions(gateway: Gateway, tmp_path: Path) -> None:
    log = tmp_path / "calls"
    await deploy(gateway, unique("line"), logging_function(log), {"topic": "greetings"})
    paths = install_example(tmp_path / "site")
    env = os.environ | {
        "PYTHONPATH": os.pathsep.join(str(path) for path in [*paths, ROOT]),
        "gateway_url": gateway.url,
        "lines_topic": "greetings",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "connectors.main", "lines", stdin=asyncio.subprocess.PIPE, env=env, cwd=ROOT,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(process.communicate(b"hello\nworld\n"), timeout=30)
    assert process.returncode == 0, stderr.decode()
    assert lines(log) == ["hello", "world"]
    assert "line-2 accepted by" in stderr.decode()
