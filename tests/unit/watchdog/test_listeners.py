"""Who listens on a port, read from a /proc laid out in a temporary folder."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from watchdog.listeners import Listener, listener_of, listening_inodes, session_inodes

HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"


def row(local: str, state: str, inode: int) -> str:
    return f"   0: {local} 00000000:0000 {state} 00000000:00000000 00:00000000 00000000     0        0 {inode} 1\n"


@pytest.fixture
def proc(tmp_path: Path) -> Path:
    net = tmp_path / "self" / "net"
    net.mkdir(parents=True)
    # 5000 (0x1388) listens twice (v4 and v6); 5001 is only connected, not listening.
    (net / "tcp").write_text(HEADER + row("0100007F:1388", "0A", 111) + row("0100007F:1389", "01", 222))
    (net / "tcp6").write_text(HEADER + row("00000000000000000000000001000000:1388", "0A", 333))
    process(tmp_path, 40, session=40, sockets=[111], name="python3 server.py")
    process(tmp_path, 41, session=40, sockets=[333], name="a (name) with parens")
    process(tmp_path, 50, session=50, sockets=[222])
    return tmp_path


def process(proc: Path, pid: int, *, session: int, sockets: list[int], name: str = "x") -> None:
    folder = proc / str(pid)
    (folder / "fd").mkdir(parents=True)
    (folder / "stat").write_text(f"{pid} ({name}) S 1 {session} {session} 0 -1 4194560 0 0\n")
    for fd, inode in enumerate(sockets, start=3):
        os.symlink(f"socket:[{inode}]", folder / "fd" / str(fd))
    os.symlink("/dev/null", folder / "fd" / "0")


def test_listening_sockets_of_a_port_in_both_tables(proc: Path) -> None:
    assert listening_inodes(5000, proc) == {111, 333}
    assert listening_inodes(5001, proc) == set()  # established, not listening


def test_the_sockets_of_a_session(proc: Path) -> None:
    assert session_inodes(40, proc) == {111, 333}
    assert session_inodes(50, proc) == {222}


def test_who_listens(proc: Path) -> None:
    assert listener_of(5000, 40, proc) is Listener.OWN
    assert listener_of(5000, 50, proc) is Listener.OTHER
    assert listener_of(5002, 40, proc) is Listener.NONE


def test_this_machines_proc_sees_a_socket_of_this_process() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert listener_of(port, os.getsid(0)) is Listener.OWN
    assert listener_of(port, os.getsid(0)) is Listener.NONE
