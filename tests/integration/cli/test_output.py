"""Children's output reaches the terminal line by line, behind the child's name."""

from __future__ import annotations

import io
import os
import sys

import pytest

from faasq.output import Prefixer
from faasq.restarts import RestartPolicy
from faasq.supervisor import ChildSpec, StopFlag, Supervisor
from tests.support.polling import until

pytestmark = pytest.mark.integration

TALKER = """
import signal, sys, time
def bye(signum, frame):
    print("draining", flush=True)
    sys.stderr.write("x" * 200000 + "\\n")  # more than a pipe holds: the supervisor must keep reading
    sys.stderr.write("no newline at the end")
    sys.exit(0)
signal.signal(signal.SIGTERM, bye)
print("one", flush=True)
sys.stderr.write("two\\nthr")
sys.stderr.flush()
time.sleep(0.05)
sys.stderr.write("ee\\n")
sys.stderr.flush()
while True:
    time.sleep(1)
"""


def test_lines_are_prefixed_and_whole() -> None:
    sink = io.BytesIO()
    with Supervisor(StopFlag(), output=Prefixer(sink, width=6), stop_timeout=10) as supervisor:
        supervisor.start(ChildSpec("talker", [sys.executable, "-c", TALKER], dict(os.environ)))

        def three_lines() -> bool | None:
            supervisor.pause()
            return sink.getvalue().count(b"\n") >= 3 or None

        until(three_lines, within=10, every=0)
    lines = sink.getvalue().split(b"\n")
    assert lines[:3] == [b"talker | one", b"talker | two", b"talker | three"]
    assert lines[3:] == [b"talker | draining", b"talker | " + b"x" * 200000, b"talker | no newline at the end", b""]


def test_a_restarted_child_keeps_its_name() -> None:
    sink = io.BytesIO()
    code = "import sys; print('hello', flush=True); sys.exit(1)"
    policy = RestartPolicy(initial_delay=0.01, max_crashes=5)
    with Supervisor(StopFlag(), output=Prefixer(sink), restart=policy, poll=0.01) as supervisor:
        supervisor.start(ChildSpec("again", [sys.executable, "-c", code], dict(os.environ)))

        def twice() -> bool | None:
            supervisor.pause()
            supervisor.check()
            return sink.getvalue().count(b"again      | hello\n") == 2 or None

        until(twice, within=10, every=0)
