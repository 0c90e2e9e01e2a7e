"""The README's callback receiver prints what a callback carries."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "callback_receiver.py"


def test_it_prints_each_callbacks_headers_and_body() -> None:
    with subprocess.Popen([sys.executable, SCRIPT, "0"], stdout=subprocess.PIPE, text=True) as process:
        stdout = process.stdout
        assert stdout is not None
        try:
            match = re.search(r"http://127\.0\.0\.1:(\d+)/", stdout.readline())
            assert match, "no address printed"
            reply = httpx.post(f"http://127.0.0.1:{match[1]}/cb", content=b"hi", headers={"X-Call-Id": "c-1"})
            assert reply.status_code == 200
            printed = list(iter(lambda: stdout.readline().rstrip("\n"), "-" * 40))
        finally:
            process.terminate()
    assert printed[0] == "POST /cb"
    assert "X-Call-Id: c-1" in printed
    assert printed[-2:] == ["", "hi"]
