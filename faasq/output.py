"""Children's output, each line prefixed with the child's name (``worker-1 | ...``), as docker compose does.

No threads: the supervisor drains the pipes in its own poll loop (:meth:`Prefixer.pump`), so it can
keep forking children with ``preexec_fn`` safely.
"""

from __future__ import annotations

import contextlib
import os
import select
import time
from typing import BinaryIO

__all__ = ["Prefixer"]

_CHUNK = 65536
_LAST_READS = 16


class Prefixer:
    """Copies whole lines from children's pipes to ``sink``, each behind its child's name."""

    def __init__(self, sink: BinaryIO, width: int = 10) -> None:
        self._sink = sink
        self._width = width
        self._names: dict[int, str] = {}
        self._partial: dict[int, bytes] = {}

    def add(self, name: str, fd: int) -> None:
        """Read the pipe ``fd`` (its read end, now owned here) as ``name``'s output."""
        self._width = max(self._width, len(name))
        self._names[fd] = name
        self._partial[fd] = b""

    def pump(self, timeout: float) -> None:
        """Copy what the children wrote, waiting up to ``timeout`` for something to arrive."""
        if not self._names:
            time.sleep(timeout)  # a signal interrupts the sleep only to run its handler; PEP 475 resumes it
            return
        readable, _, _ = select.select(list(self._names), [], [], timeout)
        for fd in readable:
            self._read(fd)

    def _read(self, fd: int) -> None:
        chunk = os.read(fd, _CHUNK)  # select said readable: this does not block
        if not chunk:
            self._emit(fd, self._partial[fd], final=True)
            self._forget(fd)
            return
        *lines, self._partial[fd] = (self._partial[fd] + chunk).split(b"\n")
        for line in lines:
            self._emit(fd, line)

    def _emit(self, fd: int, line: bytes, *, final: bool = False) -> None:
        if final and not line:
            return
        self._sink.write(f"{self._names[fd]:<{self._width}} | ".encode() + line + b"\n")
        self._sink.flush()

    def _forget(self, fd: int) -> None:
        del self._names[fd], self._partial[fd]
        with contextlib.suppress(OSError):
            os.close(fd)

    def close(self) -> None:
        """Copy what is left without waiting, then close every pipe."""
        for fd in list(self._names):
            for _ in range(_LAST_READS):  # bounded: a replica outliving its provider may still be writing
                if fd not in self._names or not select.select([fd], [], [], 0)[0]:
                    break
                self._read(fd)
            if fd in self._names:
                self._emit(fd, self._partial[fd], final=True)
                self._forget(fd)
