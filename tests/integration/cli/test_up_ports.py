"""faasq up binds its port itself: a taken port fails clearly, and the provider inherits the socket."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from faasq.children import provider_spec, reserve_port
from faasq.errors import StackFailed
from tests.support.sockets import bound_socket

pytestmark = pytest.mark.integration


def test_a_taken_port_fails_with_a_hint() -> None:
    with bound_socket() as taken:
        port = taken.getsockname()[1]
        with pytest.raises(StackFailed) as raised:
            reserve_port(port)
    assert str(raised.value) == (
        f"port {port} on 127.0.0.1 is already in use: is faasq already running? (choose another with --port)"
    )


def test_an_unusable_address_fails_in_one_line() -> None:
    with pytest.raises(StackFailed, match=r"^cannot listen on 192\.0\.2\.1:0: "):
        reserve_port(0, host="192.0.2.1")  # TEST-NET-1: never a local address


def test_port_zero_picks_a_free_port_and_the_provider_inherits_it(tmp_path: Path) -> None:
    with reserve_port(0) as sock:
        port, fd = sock.getsockname()[1], sock.fileno()
        assert port > 0
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
        spec = provider_spec(sock, tmp_path, {"HOME": "/home/x", "port": "1"})
    assert spec.pass_fds == (fd,)
    assert spec.env == {
        "HOME": "/home/x",
        "bind_address": "127.0.0.1",
        "port": str(port),
        "listen_fd": str(fd),
        "state_dir": str(tmp_path / "provider"),
        "builds_dir": str(tmp_path / "builds"),
    }
    assert spec.ready_url == f"http://127.0.0.1:{port}/healthz"
    assert spec.stop_order == 2
