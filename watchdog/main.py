"""``faasq-watchdog``: read the settings, configure logging, serve the function with uvicorn."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import shutil
import signal
import socket
import sys
from types import FrameType

import uvicorn
from pydantic import ValidationError

from watchdog.app import WatchdogApp
from watchdog.config import WatchdogSettings
from watchdog.runners import build_runner

__all__ = ["main"]

logger = logging.getLogger("watchdog")


class _Server(uvicorn.Server):
    """uvicorn's server, telling the app to drain the moment SIGTERM or SIGINT arrives."""

    def __init__(self, config: uvicorn.Config, app: WatchdogApp) -> None:
        super().__init__(config)
        self._watchdog = app

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._watchdog.begin_drain()  # the lock file goes first, so probes stop routing calls here
        super().handle_exit(sig, frame)


def _load_settings() -> WatchdogSettings:
    try:
        settings = WatchdogSettings()
    except ValidationError as exc:
        problems = (f"{'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors())
        sys.exit(f"faasq-watchdog: invalid settings: {'; '.join(problems)}")
    except ValueError as exc:  # pydantic-settings' own parse errors, e.g. a malformed number
        sys.exit(f"faasq-watchdog: invalid settings: {exc}")
    if shutil.which(settings.argv[0]) is None:
        sys.exit(f"faasq-watchdog: invalid settings: fprocess command not found: {settings.argv[0]}")
    return settings


def _configure_logging() -> None:
    # OpenFaaS: the watchdog logs through Go's log package, "2026/12/03 17:48:32 Forking fprocess.",
    # and OpenFaaS's tooling strips that date and time to match the message.
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%Y/%m/%d %H:%M:%S"))
    logging.getLogger().handlers[:] = [handler]
    logging.getLogger().setLevel(logging.INFO)


def _listen(settings: WatchdogSettings) -> socket.socket:
    if settings.listen_fd is not None:
        try:
            return socket.socket(fileno=settings.listen_fd)
        except OSError as exc:
            sys.exit(f"faasq-watchdog: listen_fd {settings.listen_fd} is not a socket: {exc.strerror}")
    family = socket.AF_INET6 if ":" in settings.bind_address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.bind_address, settings.port))
    except OSError as exc:
        sys.exit(f"faasq-watchdog: cannot listen on {settings.bind_address}:{settings.port}: {exc.strerror}")
    sock.listen(1024)
    return sock


def _use_pidfd_child_watcher() -> None:
    # Python 3.11 waits for each child on a thread of its own; a pidfd on the event loop is cheaper.
    # 3.12 picks the pidfd watcher by itself and deprecates choosing one.
    if sys.version_info < (3, 12) and hasattr(os, "pidfd_open"):
        asyncio.set_child_watcher(asyncio.PidfdChildWatcher())


def main() -> None:
    """Run the watchdog until SIGTERM; exit 0 after draining, non-zero with one line on bad settings."""
    settings = _load_settings()
    _configure_logging()
    sock = _listen(settings)
    app = WatchdogApp(settings, build_runner(settings, dict(os.environ)))
    config = uvicorn.Config(
        app,
        loop="asyncio",  # never uvloop: it forks where asyncio uses vfork, ~3x slower to spawn
        http="httptools",
        lifespan="on",
        access_log=False,
        log_config=None,
        server_header=False,
        proxy_headers=False,  # a function replica sits behind the gateway; X-Forwarded-* is passed through as is
        timeout_graceful_shutdown=math.ceil(settings.write_timeout.total_seconds()),
    )
    server = _Server(config, app)
    # uvicorn re-raises the signal it drained on to the previous handler; these let us exit 0 instead.
    for drained in (signal.SIGTERM, signal.SIGINT):
        signal.signal(drained, lambda signum, frame: None)
    host, port = sock.getsockname()[:2]
    logger.info("Listening on http://%s:%d", host, port)
    _use_pidfd_child_watcher()
    asyncio.run(server.serve(sockets=[sock]))
    if app.failure is not None:
        sys.exit(1)  # of-watchdog: the function's server died, so does the watchdog
