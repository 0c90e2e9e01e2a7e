"""The watchdog's ASGI app: health and readiness, the in-flight limit, and every other path to the runner."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from watchdog.config import WatchdogSettings
from watchdog.runners.base import Receive, Runner, Scope, Send, send_response, text_headers

__all__ = ["WatchdogApp"]

logger = logging.getLogger(__name__)

# OpenFaaS: the watchdogs serve these methods and answer 405 to the rest, HEAD and OPTIONS included.
ALLOWED_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


class LockFile:
    """The file OpenFaaS's exec probe (``cat /tmp/.lock``) looks for; absent means not ready."""

    def __init__(self, path: Path | None) -> None:
        """Manage ``path``; None (``suppress_lock``) makes every method a no-op."""
        self._path = path

    def write(self) -> None:
        """Create the lock file, empty."""
        if self._path is not None:
            logger.info("Writing lock-file to: %s", self._path)
            self._path.write_bytes(b"")

    def remove(self) -> None:
        """Remove the lock file if it is there."""
        if self._path is not None:
            self._path.unlink(missing_ok=True)


class WatchdogApp:
    """A raw ASGI app: no framework on the hot path.

    ``/_/health`` and ``/_/ready`` answer 503 (with the runner's reason, if it gives one) until
    the runner is ready and the lock file is written, then ``200 OK``; ``/_/ready`` also
    answers 429 at ``max_inflight``. Everything else is a call: 405 for unsupported methods,
    429 over ``max_inflight``, else the runner.
    """

    def __init__(self, settings: WatchdogSettings, runner: Runner) -> None:
        """Serve ``runner`` with the limits and lock file ``settings`` describe."""
        self._runner = runner
        self._max_inflight = settings.max_inflight
        self._lock = LockFile(None if settings.suppress_lock else settings.lock_path)
        self._inflight = 0
        self._started = False
        self._draining = False
        self._announcer: asyncio.Task[None] | None = None

    @property
    def ready(self) -> bool:
        """Started, not draining, and the runner can take calls."""
        return self._started and not self._draining and self._runner.ready

    @property
    def failure(self) -> str | None:
        """Why the function cannot serve any more, if it cannot: the watchdog exits non-zero."""
        return self._runner.failure

    def begin_drain(self) -> None:
        """Stop reporting ready and remove the lock file; synchronous so a signal handler can call it."""
        self._draining = True
        self._lock.remove()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Dispatch one ASGI connection scope."""
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        if path == "/_/health":
            await self._health(send, limit=False)
        elif path == "/_/ready":
            await self._health(send, limit=True)
        elif scope["method"] not in ALLOWED_METHODS:
            await send_response(send, 405, b"")
        elif self._at_limit():
            message = f"Concurrent request limit exceeded. Max concurrent requests: {self._max_inflight}\n"
            await send_response(send, 429, message.encode(), text_headers())
        else:
            self._inflight += 1
            try:
                await self._runner.invoke(scope, receive, send)
            finally:
                self._inflight -= 1

    def _at_limit(self) -> bool:
        return 0 < self._max_inflight <= self._inflight

    async def _health(self, send: Send, *, limit: bool) -> None:
        if not self.ready:
            reason = self._runner.not_ready_reason
            await send_response(send, 503, reason.encode(), text_headers() if reason else None)
        elif limit and self._at_limit():
            await send_response(send, 429, b"")
        else:
            await send_response(send, 200, b"OK", text_headers())

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self._runner.startup()
                self._announcer = asyncio.create_task(self._announce_ready())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _announce_ready(self) -> None:
        logger.info("Event loop: %s", type(asyncio.get_running_loop()).__module__.split(".")[0])  # asyncio: it forks
        await self._runner.wait_ready()
        if self._draining:
            return
        try:
            self._lock.write()
        except OSError as exc:
            # OpenFaaS exits here; staying unready keeps /_/health honest and the cause in the log
            logger.error("Cannot write the lock file (%s); set lock_path, or suppress_lock=true", exc)
            return
        self._started = True

    async def _shutdown(self) -> None:
        self.begin_drain()
        if self._announcer is not None:
            self._announcer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._announcer
        await self._runner.shutdown()
