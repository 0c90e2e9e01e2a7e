"""Who listens on a TCP port: read from /proc, so http mode proxies only to its own child's server.

A fixed port such as 5000 may already be held by another process (another function's
server, when replicas share a network namespace). Connecting to it would reach that
process; the watchdog declares the upstream ready only once its own child, or a process of
the child's session, owns the listening socket.
"""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path

__all__ = ["Listener", "listener_of", "listening_inodes", "session_inodes"]

_LISTEN = "0A"
_PROC = Path("/proc")


class Listener(Enum):
    """Who listens on a port."""

    NONE = "nobody"
    """Nothing listens on it yet."""
    OWN = "the function"
    """The function's process (or one of its session) owns the listening socket."""
    OTHER = "another process"
    """Something else listens there: a call would reach the wrong process."""


def listening_inodes(port: int, proc: Path = _PROC) -> set[int]:
    """The inodes of the sockets listening on TCP ``port`` (IPv4 and IPv6) in this network namespace."""
    found: set[int] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (proc / "self" / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == _LISTEN and int(fields[1].rpartition(":")[2], 16) == port:
                found.add(int(fields[9]))
    return found


def session_inodes(session: int, proc: Path = _PROC) -> set[int]:
    """The socket inodes held open by the processes of ``session`` (the function runs in a session of its own)."""
    inodes: set[int] = set()
    for entry in proc.iterdir():
        if entry.name.isdigit() and _session_of(entry) == session:
            inodes |= _sockets_of(entry)
    return inodes


def listener_of(port: int, session: int, proc: Path = _PROC) -> Listener:
    """Who listens on ``port``: nobody, the processes of ``session``, or another process."""
    listening = listening_inodes(port, proc)
    if not listening:
        return Listener.NONE
    return Listener.OWN if listening & session_inodes(session, proc) else Listener.OTHER


def _session_of(process: Path) -> int | None:
    try:
        stat = (process / "stat").read_text()
    except OSError:
        return None
    # The command name, in parentheses, may hold spaces: the fields after it are the stable ones.
    fields = stat.rpartition(")")[2].split()
    return int(fields[3]) if len(fields) > 3 else None


def _sockets_of(process: Path) -> set[int]:
    inodes: set[int] = set()
    try:
        descriptors = os.listdir(process / "fd")
    except OSError:
        return inodes
    for descriptor in descriptors:
        try:
            target = os.readlink(process / "fd" / descriptor)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes
