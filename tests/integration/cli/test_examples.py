"""The example functions' own behaviour, run as the watchdog runs them: body on stdin, env for settings."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.support.paths import ROOT

pytestmark = pytest.mark.integration

FUNCTIONS = ROOT / "examples" / "functions"


def handler(name: str, body: bytes, **env: str) -> subprocess.CompletedProcess[bytes]:
    script = FUNCTIONS / name / "handler.py"
    return subprocess.run(
        [sys.executable, str(script)], input=body, capture_output=True, env={**os.environ, **env}, timeout=20
    )


@pytest.mark.parametrize(("rate", "code", "out"), [("0", 0, b"\x00body\n"), ("1", 1, b"")])
def test_flaky_fails_its_fraction_of_calls(rate: str, code: int, out: bytes) -> None:
    result = handler("flaky", b"\x00body\n", FAIL_RATE=rate)
    assert (result.returncode, result.stdout) == (code, out)
    assert result.stderr == (b"flaky: failing this call on purpose\n" if code else b"")


def test_slow_sleeps_then_echoes() -> None:
    started = time.monotonic()
    result = handler("slow", b"late", SLEEP_SECONDS="0.3")
    assert (result.returncode, result.stdout) == (0, b"late")
    assert time.monotonic() - started >= 0.3
