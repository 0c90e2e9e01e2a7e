"""The fork path's hot loop: run fprocess once with ``posix_spawn``, pipes and a pidfd on the event loop.

``asyncio.create_subprocess_exec`` builds a ``Popen``, a subprocess transport and a transport
and protocol per pipe for every call; the watchdog only needs "write these bytes, collect the
output, tell me the exit status". Doing that with raw file descriptors on the selector costs a
fraction of the CPU per call (see docs/performance.md). Linux only: it needs ``os.pidfd_open``.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Mapping

from watchdog.runners.process import Command, Finished, kill_group

__all__ = ["SpawnedProcess", "available", "run_buffered"]

_READ_SIZE = 256 * 1024
# Python ignores these for itself and an ignored signal survives exec; Popen restores them too.
_RESTORED = tuple(getattr(signal, name) for name in ("SIGPIPE", "SIGXFZ", "SIGXFSZ") if hasattr(signal, name))


def available() -> bool:
    """Whether this platform has what the fast path needs."""
    return hasattr(os, "pidfd_open") and hasattr(os, "posix_spawn") and hasattr(os, "POSIX_SPAWN_DUP2")


def _spawn(command: Command, env: Mapping[bytes, bytes], *, merge_stderr: bool) -> tuple[int, int, int, int | None]:
    """posix_spawn with pipes on 0, 1 and 2; returns the pid and the parent's stdin, stdout and stderr ends."""
    child_in, stdin = os.pipe2(os.O_CLOEXEC)  # close-on-exec: only the dup2'd copies reach the child
    out_read, out_write = os.pipe2(os.O_CLOEXEC)
    err_read, err_write = (out_read, out_write) if merge_stderr else os.pipe2(os.O_CLOEXEC)
    actions = [(os.POSIX_SPAWN_DUP2, child_in, 0), (os.POSIX_SPAWN_DUP2, out_write, 1)]
    actions.append((os.POSIX_SPAWN_DUP2, err_write, 2))
    try:
        pid = os.posix_spawn(
            command.executable, command.argv, env, file_actions=actions, setsid=True, setsigdef=_RESTORED
        )
    except OSError:
        for fd in {child_in, stdin, out_read, out_write, err_read, err_write}:
            os.close(fd)
        raise
    for fd in {child_in, out_write, err_write}:
        os.close(fd)
    return pid, stdin, out_read, None if merge_stderr else err_read


class _Sink:
    """Collects one pipe until end of file."""

    __slots__ = ("chunks", "fd")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.chunks: list[bytes] = []


class SpawnedProcess:
    """One fprocess run, leader of its own session, with its pipes registered on the running loop."""

    def __init__(self, command: Command, env: Mapping[bytes, bytes], *, merge_stderr: bool) -> None:
        """Start ``command``; raises OSError when it cannot be executed."""
        self._loop = asyncio.get_running_loop()
        self.pid, self._stdin, out_read, err_read = _spawn(command, env, merge_stderr=merge_stderr)
        os.set_blocking(self._stdin, False)
        self._pidfd = os.pidfd_open(self.pid)
        self._returncode = -1
        self._pending = 2 if err_read is None else 3  # stdout, [stderr,] exit
        self._finished: asyncio.Future[Finished] = self._loop.create_future()
        self._stdout = self._sink(out_read)
        self._stderr = None if err_read is None else self._sink(err_read)
        self._loop.add_reader(self._pidfd, self._reap)

    def _sink(self, fd: int) -> _Sink:
        os.set_blocking(fd, False)
        sink = _Sink(fd)
        self._loop.add_reader(fd, self._drain, sink)
        return sink

    def _part_done(self) -> None:
        self._pending -= 1
        if self._pending == 0 and not self._finished.done():
            stderr = b"" if self._stderr is None else b"".join(self._stderr.chunks)
            self._finished.set_result(Finished(self._returncode, b"".join(self._stdout.chunks), stderr))

    def _drain(self, sink: _Sink) -> None:
        try:
            chunk = os.read(sink.fd, _READ_SIZE)
        except BlockingIOError:
            return
        if chunk:
            sink.chunks.append(chunk)
            return
        self._loop.remove_reader(sink.fd)
        os.close(sink.fd)
        sink.fd = -1
        self._part_done()

    def _reap(self) -> None:
        self._loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        self._pidfd = -1
        _, status = os.waitpid(self.pid, 0)
        self._returncode = os.waitstatus_to_exitcode(status)
        self._part_done()

    async def feed(self, data: bytes) -> None:
        """Write ``data`` to stdin and close it; a function that stops reading early is not an error."""
        view = memoryview(data)
        try:
            while view:
                try:
                    view = view[os.write(self._stdin, view) :]
                except BlockingIOError:
                    await self._writable()
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            os.close(self._stdin)
            self._stdin = -1

    async def _writable(self) -> None:
        ready = self._loop.create_future()
        self._loop.add_writer(self._stdin, ready.set_result, None)
        try:
            await ready
        finally:
            self._loop.remove_writer(self._stdin)

    async def wait(self) -> Finished:
        """Wait for end of output and exit; returns what the process wrote."""
        # shielded: a timeout cancels the waiter, never the run's own future, so it can still be awaited after a kill
        return await asyncio.shield(self._finished)

    def close(self) -> None:
        """Close the pipes still open after a cancellation; the pidfd stays registered to reap the child."""
        for sink in (self._stdout, self._stderr):
            if sink is not None and sink.fd >= 0:
                self._loop.remove_reader(sink.fd)
                os.close(sink.fd)
                sink.fd = -1
        if self._stdin >= 0:
            os.close(self._stdin)
            self._stdin = -1


async def run_buffered(
    command: Command, env: Mapping[bytes, bytes], stdin: bytes, *, merge_stderr: bool, kill_after: float | None
) -> Finished | None:
    """Run ``command`` once with ``stdin``; None when it ran past ``kill_after`` seconds and its group was killed."""
    process = SpawnedProcess(command, env, merge_stderr=merge_stderr)
    try:
        async with asyncio.timeout(kill_after):
            await process.feed(stdin)
            return await process.wait()
    except TimeoutError:
        kill_group(process.pid)
        await process.wait()
        return None
    except BaseException:
        kill_group(process.pid)
        process.close()
        raise
