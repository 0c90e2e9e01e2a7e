"""Loopback sockets on ports the kernel picks."""

from __future__ import annotations

import socket


def bound_socket() -> socket.socket:
    """A listening TCP socket on a loopback port the kernel chose; hand it to a server, never its number."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


def free_port() -> int:
    """A loopback port nobody listens on right now; only for a subprocess that must be told a number."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
