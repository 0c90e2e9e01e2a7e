"""Runs the parts of the embedded stack as child processes: start in order, watch, restart, stop in phases.

Each child is a :class:`ChildSpec`; ``faasq up`` builds the list (nats-server, the provider, the
gateway, the queue workers). A child runs in its own process group, so a Ctrl+C at the terminal
reaches only the supervisor, which then stops the children in order. A child that crashes after it
was once ready is restarted with backoff (:mod:`faasq.restarts` decides); one that crash-loops, or
that never gets ready, ends the stack with :class:`~faasq.errors.StackFailed`.
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
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx

from faasq.errors import StackFailed
from faasq.output import Prefixer
from faasq.restarts import GiveUp, RestartPolicy, decide_restart, recent_crashes

__all__ = ["ChildSpec", "StopFlag", "Stopped", "Supervisor", "terminate_with_parent"]

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class Stopped(Exception):
    """The supervisor was asked to stop (SIGINT/SIGTERM) while it was still starting up."""


@dataclass(frozen=True)
class ChildSpec:
    """How to start one part of the stack, how to tell that it is ready, and when to stop it.

    Attributes:
        name: shown in messages ("provider").
        argv: the command, never run through a shell.
        env: the child's whole environment.
        ready_url: a URL that answers 200 once the child is ready.
        ready: a probe that returns True once the child is ready (may raise StackFailed); with neither,
            the child is ready at once.
        pass_fds: descriptors the child inherits (a pre-bound listening socket, kept across restarts).
        cwd: the working directory; None keeps the supervisor's.
        stop_order: children are stopped in phases of ascending ``stop_order``; one phase's children get
            SIGTERM together.
        stop_timeout: how long it may drain after SIGTERM before its group is killed; None: the supervisor's.
        exited: told the pid of each of its processes that exited (to forget its live metrics).
    """

    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    ready_url: str | None = None
    ready: Callable[[], bool] | None = field(default=None, compare=False)
    pass_fds: tuple[int, ...] = ()
    cwd: Path | None = None
    stop_order: int = 0
    stop_timeout: float | None = None
    exited: Callable[[int], None] | None = field(default=None, compare=False)


@dataclass
class _Child:
    spec: ChildSpec
    process: subprocess.Popen[bytes]
    started: bool = False
    """Ready once: from then on a crash is restarted rather than fatal."""
    crashes: list[float] = field(default_factory=list)
    restart_at: float | None = None


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
    """Starts children, restarts those that crash, and stops them all (SIGTERM, wait, then SIGKILL).

    Use it as a context manager: leaving the block stops every child, whatever happened. Without a
    ``restart`` policy any exit is fatal; ``report`` receives one line per crash and restart. With an
    ``output``, the children's stdout and stderr go through it (prefixed lines) instead of being inherited.
    """

    def __init__(
        self,
        stop: StopFlag,
        *,
        start_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        poll: float = 0.05,
        restart: RestartPolicy | None = None,
        report: Callable[[str], None] = lambda line: None,
        output: Prefixer | None = None,
    ) -> None:
        self.stop_requested = stop
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout
        self._poll = poll
        self._restart = restart
        self._report = report
        self._output = output
        self._children: list[_Child] = []

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop_all()

    @property
    def pids(self) -> list[int]:
        """Process ids of the children, in start order (a restarted child's new pid)."""
        return [child.process.pid for child in self._children]

    @property
    def named_pids(self) -> dict[str, int]:
        """Each child's current process id by name."""
        return {child.spec.name: child.process.pid for child in self._children}

    def start(self, spec: ChildSpec) -> None:
        """Start a child and wait until it is ready.

        Raises:
            StackFailed: it (or an earlier child) exited, or it was not ready within the start timeout.
            Stopped: a stop was requested meanwhile.
        """
        child = _Child(spec, self._spawn(spec))
        self._children.append(child)
        if spec.ready_url is not None or spec.ready is not None:
            self._wait_ready(spec)
        child.started = True

    def update(self, spec: ChildSpec) -> None:
        """Use ``spec`` from the next restart of the child of the same name (nats-server keeps its port)."""
        self._child(spec.name).spec = spec

    def _child(self, name: str) -> _Child:
        return next(child for child in self._children if child.spec.name == name)

    def _spawn(self, spec: ChildSpec) -> subprocess.Popen[bytes]:
        piped = subprocess.PIPE if self._output else None
        try:
            process = subprocess.Popen(  # noqa: S603 - argv built by faasq up, no shell
                list(spec.argv),
                env=dict(spec.env),
                pass_fds=spec.pass_fds,
                cwd=spec.cwd,
                stdout=piped,
                stderr=subprocess.STDOUT if piped else None,
                process_group=0,
                # preexec_fn is unsafe only with threads running, and faasq up starts none.
                preexec_fn=terminate_with_parent(),
            )
        except OSError as exc:
            raise StackFailed(f"cannot start {spec.name} ({spec.argv[0]}): {exc.strerror}") from None
        if self._output and process.stdout:
            with process.stdout:  # the prefixer owns a duplicate; this file object must not close it later
                self._output.add(spec.name, os.dup(process.stdout.fileno()))
        return process

    def _idle(self, seconds: float) -> bool:
        """Wait ``seconds`` (copying children's output meanwhile) unless a stop is requested; return whether one is."""
        if self._output is None:
            return self.stop_requested.wait(seconds)
        if not self.stop_requested.is_set():
            self._output.pump(seconds)
        return self.stop_requested.is_set()

    def _wait_ready(self, spec: ChildSpec) -> None:
        deadline = time.monotonic() + self._start_timeout
        where = f" at {spec.ready_url}" if spec.ready_url else ""
        with httpx.Client(timeout=1.0, trust_env=False) as client:
            while not (spec.ready() if spec.ready else _answers(client, spec.ready_url or "")):
                self.check()
                if time.monotonic() > deadline:
                    raise StackFailed(f"{spec.name} did not become ready{where} within {self._start_timeout:g}s")
                self.pause()

    def pause(self) -> None:
        """Wait one poll interval.

        Raises:
            Stopped: a stop was requested.
        """
        if self._idle(self._poll):
            raise Stopped

    def check(self) -> None:
        """Notice children that exited: schedule their restart, or restart those whose backoff is over.

        Raises:
            StackFailed: a child exited before it was ready, without a restart policy, or crash-looping.
        """
        now = time.monotonic()
        for child in self._children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    self._respawn(child)
            elif (code := child.process.poll()) is not None:
                self._crashed(child, _how(code), now)

    def _crashed(self, child: _Child, how: str, now: float) -> None:
        name = child.spec.name
        if child.spec.exited is not None:
            child.spec.exited(child.process.pid)
        if self._restart is None or not child.started:
            raise StackFailed(f"{name} {how}")
        child.crashes = [*recent_crashes(child.crashes, now, self._restart), now]
        verdict = decide_restart(child.crashes, now, self._restart)
        if isinstance(verdict, GiveUp):
            raise StackFailed(f"{name} {how}; {verdict.reason}, giving up")
        self._report(f"faasq: {name} {how}; restarting it in {verdict.delay:g}s")
        child.restart_at = now + verdict.delay

    def _respawn(self, child: _Child) -> None:
        _kill_group(child.process.pid)  # whatever the crashed child left in its group
        child.restart_at = None
        child.process = self._spawn(child.spec)
        self._report(f"faasq: restarted {child.spec.name} (pid {child.process.pid})")

    def watch(self) -> None:
        """Block until a stop is requested, restarting crashed children; returns then.

        Raises:
            StackFailed: a child exited and is not to be restarted.
        """
        while not self._idle(self._poll):
            self.check()

    def stop_all(self) -> None:
        """Stop every child in phases of ``stop_order``; within a phase, SIGTERM all, then wait for each."""
        children, self._children = self._children, []
        for order in sorted({child.spec.stop_order for child in children}):
            self._stop_phase([child for child in reversed(children) if child.spec.stop_order == order])
        if self._output:
            self._output.close()

    def _stop_phase(self, phase: list[_Child]) -> None:
        started = time.monotonic()
        for child in phase:
            if child.process.poll() is None:
                child.process.terminate()
        for child in phase:
            process = child.process
            timeout = self._stop_timeout if child.spec.stop_timeout is None else child.spec.stop_timeout
            if not self._exited(process, started + timeout):
                _kill_group(process.pid)
                process.wait()
            # Whatever the child left running in its group (replicas it failed to stop) goes with it.
            _kill_group(process.pid)

    def _exited(self, process: subprocess.Popen[bytes], deadline: float) -> bool:
        if self._output is None:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                return False
            return True
        while process.poll() is None:  # a draining child may log more than a pipe holds: keep copying
            if time.monotonic() >= deadline:
                return False
            self._output.pump(max(0.0, min(self._poll, deadline - time.monotonic())))
        return True


def _how(code: int) -> str:
    return f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"


def terminate_with_parent() -> Callable[[], None] | None:
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
