"""Runs the parts of the embedded stack as child processes: start in order, watch, stop in reverse.

Each child is a :class:`ChildSpec`; ``faasq up`` builds the list (today the provider; later
nats-server, the gateway and queue workers). A child runs in its own process group, so a
Ctrl+C at the terminal reaches only the supervisor, which then stops the children in order.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx

from faasq.errors import StackFailed

__all__ = ["ChildSpec", "Stopped", "Supervisor"]

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class Stopped(Exception):
    """The supervisor was asked to stop (SIGINT/SIGTERM) while it was still starting up."""


@dataclass(frozen=True)
class ChildSpec:
    """How to start one part of the stack and how to tell that it is ready.

    Attributes:
        name: shown in messages ("provider").
        argv: the command, never run through a shell.
        env: the child's whole environment.
        ready_url: a URL that answers 200 once the child is ready; None means ready at once.
        pass_fds: descriptors the child inherits (a pre-bound listening socket).
        cwd: the working directory; None keeps the supervisor's.
    """

    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    ready_url: str | None = None
    pass_fds: tuple[int, ...] = ()
    cwd: Path | None = None


@dataclass
class _Child:
    spec: ChildSpec
    process: subprocess.Popen[bytes]


class StopFlag:
    """A stop request that a signal handler may set.

    ``threading.Event`` takes a lock in ``set()``: a handler that runs while the main thread holds
    that lock inside ``wait()`` deadlocks. A plain attribute cannot.
    """

    def __init__(self) -> None:
        self._requested = False

    def set(self) -> None:
        """Request the stop (safe in a signal handler and from other threads)."""
        self._requested = True

    def is_set(self) -> bool:
        """Whether a stop was requested."""
        return self._requested

    def wait(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` unless a stop is already requested; return whether one is."""
        if not self._requested:
            time.sleep(timeout)  # a signal interrupts the sleep only to run its handler; PEP 475 resumes it
        return self._requested


class Supervisor:
    """Starts children, notices when one dies, and stops them all (SIGTERM, wait, then SIGKILL).

    Use it as a context manager: leaving the block stops every child, whatever happened.
    """

    def __init__(
        self, stop: StopFlag, *, start_timeout: float = 30.0, stop_timeout: float = 10.0, poll: float = 0.05
    ) -> None:
        self.stop_requested = stop
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout
        self._poll = poll
        self._children: list[_Child] = []

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop_all()

    @property
    def pids(self) -> list[int]:
        """Process ids of the children started so far."""
        return [child.process.pid for child in self._children]

    def start(self, spec: ChildSpec) -> None:
        """Start a child and wait until it is ready.

        Raises:
            StackFailed: it (or an earlier child) exited, or it was not ready within the start timeout.
            Stopped: a stop was requested meanwhile.
        """
        try:
            process = subprocess.Popen(  # noqa: S603 - argv built by faasq up, no shell
                list(spec.argv),
                env=dict(spec.env),
                pass_fds=spec.pass_fds,
                cwd=spec.cwd,
                process_group=0,
                # preexec_fn is unsafe only with threads running, and faasq up starts none.
                preexec_fn=_terminate_with_parent(),
            )
        except OSError as exc:
            raise StackFailed(f"cannot start {spec.name} ({spec.argv[0]}): {exc.strerror}") from None
        self._children.append(_Child(spec, process))
        if spec.ready_url is not None:
            self._wait_ready(spec.name, spec.ready_url)

    def _wait_ready(self, name: str, url: str) -> None:
        deadline = time.monotonic() + self._start_timeout
        with httpx.Client(timeout=1.0) as client:
            while not _answers(client, url):
                self.check()
                if time.monotonic() > deadline:
                    raise StackFailed(f"{name} did not become ready at {url} within {self._start_timeout:g}s")
                self.pause()

    def pause(self) -> None:
        """Wait one poll interval.

        Raises:
            Stopped: a stop was requested.
        """
        if self.stop_requested.wait(self._poll):
            raise Stopped

    def check(self) -> None:
        """Raise if a child has exited.

        Raises:
            StackFailed: naming the child and its exit code (or signal).
        """
        for child in self._children:
            code = child.process.poll()
            if code is not None:
                how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
                raise StackFailed(f"{child.spec.name} {how}")

    def watch(self) -> None:
        """Block until a stop is requested; returns then.

        Raises:
            StackFailed: a child exited first.
        """
        while not self.stop_requested.wait(self._poll):
            self.check()

    def stop_all(self) -> None:
        """Stop the children in reverse order of starting: SIGTERM, wait, then SIGKILL their process group."""
        while self._children:
            self._stop(self._children.pop())

    def _stop(self, child: _Child) -> None:
        process = child.process
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(self._stop_timeout)
            except subprocess.TimeoutExpired:
                _kill_group(process.pid)
                process.wait()
        # Whatever the child left running in its group (replicas it failed to stop) goes with it.
        _kill_group(process.pid)


def _terminate_with_parent() -> Callable[[], None] | None:
    # Its own process group shields a child from the terminal's signals; should the supervisor itself be
    # killed (SIGKILL, OOM), Linux's parent-death signal still gives the child a SIGTERM to stop cleanly.
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork, not in the child
    parent = os.getpid()

    def set_parent_death_signal() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return set_parent_death_signal


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _answers(client: httpx.Client, url: str) -> bool:
    try:
        return client.get(url).status_code == 200
    except httpx.HTTPError:
        return False
