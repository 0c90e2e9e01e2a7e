"""The supervisor restarts a crashed child at the same address, gives up on a crash loop, stops in phases."""

from __future__ import annotations

import os
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from faasq.children import start_nats
from faasq.errors import StackFailed
from faasq.restarts import RestartPolicy
from faasq.supervisor import ChildSpec, StopFlag, Supervisor
from tests.support.polling import until
from tests.support.processes import alive
from tests.support.sockets import bound_socket
from tests.support.supervisor import SERVER

pytestmark = pytest.mark.integration

FAST = RestartPolicy(initial_delay=0.01, max_delay=0.05, max_crashes=2, window=60.0)

# Appends "<name> term" when SIGTERM arrives and "<name> exit" after a short drain.
RECORDER = """
import pathlib, signal, sys, time
name, journal = sys.argv[1], pathlib.Path(sys.argv[2])
def record(what):
    with journal.open("a") as f:
        f.write(f"{name} {what}\\n")
def drain(signum, frame):
    record("term"); time.sleep(0.2); record("exit"); sys.exit(0)
signal.signal(signal.SIGTERM, drain)
record("up")
while True:
    time.sleep(1)
"""


@pytest.fixture
def lines() -> list[str]:
    return []


def supervisor(lines: list[str], policy: RestartPolicy = FAST) -> Supervisor:
    return Supervisor(StopFlag(), restart=policy, report=lines.append, poll=0.01)


@pytest.fixture
def server_socket() -> Iterator[tuple[ChildSpec, str]]:
    with bound_socket() as sock:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/healthz"
        argv = [sys.executable, "-c", SERVER, str(sock.fileno())]
        yield ChildSpec("server", argv, dict(os.environ), ready_url=url, pass_fds=(sock.fileno(),)), url


def test_a_crashed_child_is_restarted_and_its_url_answers_again(
    server_socket: tuple[ChildSpec, str], lines: list[str]
) -> None:
    spec, url = server_socket
    with supervisor(lines) as running:
        running.start(spec)
        first = running.named_pids["server"]
        os.kill(first, signal.SIGKILL)

        def back() -> int | None:
            running.check()
            pid = running.named_pids["server"]
            return pid if pid != first and _answers(url) else None

        second = until(back, within=10, every=0.01)
        assert lines == [
            "faasq: server was killed by signal 9; restarting it in 0.01s",
            f"faasq: restarted server (pid {second})",
        ]
        assert not alive(first)
    assert not alive(second)


def test_a_crash_loop_ends_with_a_message(lines: list[str]) -> None:
    spec = ChildSpec("loop", [sys.executable, "-c", "import sys; sys.exit(3)"], dict(os.environ))
    with supervisor(lines) as running:
        running.start(spec)  # no readiness check: ready at once, so later exits are crashes
        with pytest.raises(StackFailed) as failed:
            running.watch()
    assert str(failed.value) == "loop exited with code 3; it crashed 3 times within 60s, giving up"
    assert lines[0] == "faasq: loop exited with code 3; restarting it in 0.01s"
    assert lines[2] == "faasq: loop exited with code 3; restarting it in 0.02s"
    assert len(lines) == 4


def test_a_child_that_dies_before_it_is_ready_is_not_restarted(lines: list[str]) -> None:
    spec = ChildSpec("early", [sys.executable, "-c", "import sys; sys.exit(2)"], {}, ready_url="http://127.0.0.1:9/")
    with supervisor(lines) as running, pytest.raises(StackFailed, match=r"^early exited with code 2$"):
        running.start(spec)
    assert lines == []


def test_update_changes_how_a_child_restarts(tmp_path: Path, lines: list[str]) -> None:
    journal = tmp_path / "journal"
    with supervisor(lines) as running:
        running.start(recorder("old", journal))
        running.update(recorder("old", journal, record_as="new"))
        os.kill(running.named_pids["old"], signal.SIGKILL)

        def restarted_as_new() -> bool | None:
            running.check()
            return "new up" in _read(journal) or None

        until(restarted_as_new, within=10, every=0.01)


def recorder(name: str, journal: Path, stop_order: int = 0, record_as: str | None = None) -> ChildSpec:
    argv = [sys.executable, "-c", RECORDER, record_as or name, str(journal)]
    return ChildSpec(name, argv, dict(os.environ), stop_order=stop_order)


def test_children_stop_in_phases(tmp_path: Path, lines: list[str]) -> None:
    journal = tmp_path / "journal"
    order = {"nats": 3, "provider": 2, "gateway": 0, "worker-1": 1, "worker-2": 1}
    running = supervisor(lines)
    for name, phase in order.items():
        running.start(recorder(name, journal, phase))
    until(lambda: (_read(journal).count(" up") == 5) or None, within=20)
    running.stop_all()
    events = [line for line in journal.read_text().splitlines() if not line.endswith(" up")]
    assert events[:2] == ["gateway term", "gateway exit"]
    # Both workers get SIGTERM before either finished draining: they drain side by side.
    assert sorted(events[2:4]) == ["worker-1 term", "worker-2 term"]
    assert sorted(events[4:6]) == ["worker-1 exit", "worker-2 exit"]
    assert events[6:] == ["provider term", "provider exit", "nats term", "nats exit"]


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def _read(journal: Path) -> str:
    return journal.read_text() if journal.exists() else ""


def test_nats_restarts_on_the_same_ports(tmp_path: Path, lines: list[str]) -> None:
    with supervisor(lines) as running:
        nats = start_nats(running, tmp_path / "nats", os.environ)
        assert nats.monitor is not None
        first = running.named_pids["nats"]
        assert _info(nats.host, nats.port).startswith(b"INFO ")
        os.kill(first, signal.SIGKILL)

        def serving_again() -> bool | None:
            running.check()
            return (running.named_pids["nats"] != first and _answers(f"{nats.monitor}/healthz")) or None

        until(serving_again, within=20, every=0.02)
        assert _info(nats.host, nats.port).startswith(b"INFO ")
        assert lines[0] == "faasq: nats was killed by signal 9; restarting it in 0.01s"


def _info(host: str, port: int) -> bytes:
    with socket.create_connection((host, port), timeout=5) as conn:
        return conn.recv(4096)
