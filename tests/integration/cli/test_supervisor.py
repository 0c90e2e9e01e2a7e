"""The supervisor starts real children, waits for readiness, notices deaths and stops them for good."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from faasq.errors import StackFailed
from faasq.supervisor import ChildSpec, StopFlag, Stopped, Supervisor
from tests.support.polling import until
from tests.support.processes import alive
from tests.support.sockets import bound_socket
from tests.support.supervisor import SERVER

pytestmark = pytest.mark.integration

IGNORE_TERM = """
import pathlib, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
pathlib.Path(sys.argv[1]).touch()
time.sleep(60)
"""


def spec(name: str, code: str, *args: str, ready_url: str | None = None, fds: tuple[int, ...] = ()) -> ChildSpec:
    return ChildSpec(name, [sys.executable, "-c", code, *args], dict(os.environ), ready_url=ready_url, pass_fds=fds)


@pytest.fixture
def stop() -> StopFlag:
    return StopFlag()


@pytest.fixture
def server() -> Iterator[ChildSpec]:
    with bound_socket() as sock:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/healthz"
        yield spec("server", SERVER, str(sock.fileno()), ready_url=url, fds=(sock.fileno(),))


def test_start_waits_for_ready_and_stop_terminates(stop: StopFlag, server: ChildSpec) -> None:
    with Supervisor(stop) as supervisor:
        supervisor.start(server)
        supervisor.check()
        (pid,) = supervisor.pids
        assert alive(pid)
    assert not alive(pid)


def test_watch_returns_when_stop_is_requested(stop: StopFlag, server: ChildSpec) -> None:
    with Supervisor(stop) as supervisor:
        supervisor.start(server)
        threading.Timer(0.1, stop.set).start()
        supervisor.watch()
    assert stop.is_set()


def test_a_dying_child_is_reported(stop: StopFlag, server: ChildSpec) -> None:
    with Supervisor(stop) as supervisor:
        supervisor.start(server)
        supervisor.start(spec("short", "import sys; sys.exit(3)"))
        with pytest.raises(StackFailed, match=r"^short exited with code 3$"):
            supervisor.watch()


def test_a_child_dying_before_ready_fails_the_start(stop: StopFlag) -> None:
    with Supervisor(stop) as supervisor, pytest.raises(StackFailed, match=r"^early exited with code 2$"):
        supervisor.start(spec("early", "import sys; sys.exit(2)", ready_url="http://127.0.0.1:9/healthz"))


def test_a_child_never_ready_times_out(stop: StopFlag) -> None:
    with bound_socket() as sock, Supervisor(stop, start_timeout=0.3) as supervisor:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/healthz"  # listening, never answering
        started = time.monotonic()
        with pytest.raises(StackFailed, match=r"^slow did not become ready at .*/healthz within 0\.3s$"):
            supervisor.start(spec("slow", "import time; time.sleep(60)", ready_url=url))
        assert time.monotonic() - started < 5


def test_a_stop_request_interrupts_the_start(stop: StopFlag) -> None:
    threading.Timer(0.1, stop.set).start()
    with Supervisor(stop) as supervisor, pytest.raises(Stopped):
        supervisor.start(spec("slow", "import time; time.sleep(60)", ready_url="http://127.0.0.1:9/healthz"))


def test_a_child_ignoring_sigterm_is_killed_after_the_timeout(stop: StopFlag, tmp_path: Path) -> None:
    supervisor = Supervisor(stop, stop_timeout=0.2)
    supervisor.start(spec("stubborn", IGNORE_TERM, str(tmp_path / "ignoring")))
    (pid,) = supervisor.pids
    until(lambda: (tmp_path / "ignoring").exists() or None, within=10, every=0.01, what="the child never got ready")
    started = time.monotonic()
    supervisor.stop_all()
    assert not alive(pid)
    assert 0.2 <= time.monotonic() - started < 5


def test_a_missing_program_is_one_line(stop: StopFlag) -> None:
    with (
        Supervisor(stop) as supervisor,
        pytest.raises(StackFailed, match=r"^cannot start ghost \(/nonexistent/program\): No such file"),
    ):
        supervisor.start(ChildSpec("ghost", ["/nonexistent/program"], {}))


SUPERVISOR = """
import os, sys, time
from faasq.supervisor import ChildSpec, StopFlag, Supervisor
supervisor = Supervisor(StopFlag())
supervisor.start(ChildSpec("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], dict(os.environ)))
print(supervisor.pids[0], flush=True)
time.sleep(60)
"""


def test_children_get_sigterm_when_the_supervisor_is_killed() -> None:
    process = subprocess.Popen([sys.executable, "-c", SUPERVISOR], stdout=subprocess.PIPE)
    assert process.stdout is not None
    with process.stdout:
        child = int(process.stdout.readline())
    try:
        assert alive(child)
        process.kill()
        process.wait()
        until(
            lambda: None if alive(child) else True,
            within=10,
            every=0.01,
            what="the child outlived its killed supervisor",
        )
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)


WATCHER = """
import signal, sys
from faasq.supervisor import StopFlag, Supervisor
stop = StopFlag()
signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
print("watching", flush=True)
Supervisor(stop, poll=0.00001).watch()
print("stopped", flush=True)
"""


def test_a_stop_signal_ends_the_watch() -> None:
    # A tight poll puts the signal inside wait() most of the time: a lock there could deadlock the handler.
    process = subprocess.Popen([sys.executable, "-c", WATCHER], stdout=subprocess.PIPE)
    assert process.stdout is not None
    assert process.stdout.readline() == b"watching\n"
    process.send_signal(signal.SIGTERM)
    try:
        out, _ = process.communicate(timeout=10)
    finally:
        process.kill()
    assert (process.returncode, out) == (0, b"stopped\n")
