import sys
from datetime import timedelta

import httpx
import pytest

from watchdog.app import WatchdogApp
from watchdog.config import WatchdogSettings
from watchdog.runners.fork import ForkRunner, Outcome, render

SETTINGS = WatchdogSettings(fprocess="cat", exec_timeout=timedelta(milliseconds=1500))


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (Outcome(0, b"out"), (200, b"out")),
        (Outcome(3, b"out\nerr\n"), (500, b"exit status 3\nout\nerr\n")),
        (Outcome(-9, b""), (500, b"signal: killed\n")),
        (
            Outcome(None, b"partial"),
            (408, b"Killed process.\nfprocess ran longer than exec_timeout (1.5s); its process group was killed.\n"),
        ),
    ],
)
def test_render(outcome: Outcome, expected: tuple[int, bytes]) -> None:
    assert render(outcome, SETTINGS) == expected


async def test_fork_runner_in_process() -> None:
    settings = WatchdogSettings(
        fprocess=f"{sys.executable} -c 'import os,sys; sys.stdout.write(os.environ[\"Http_X_A\"])'"
    )
    app = WatchdogApp(settings, ForkRunner(settings, {}))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://watchdog") as http:
        answer = await http.post("/", content=b"ignored", headers={"X-A": "value", "Content-Type": "text/x"})
    assert (answer.status_code, answer.content) == (200, b"value")
    assert answer.headers["content-type"] == "text/x"
    assert float(answer.headers["x-duration-seconds"]) > 0
