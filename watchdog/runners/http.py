"""http mode: fprocess runs once as an HTTP server; every call is reverse-proxied to ``upstream_url``.

Ready only once fprocess itself listens on ``upstream_url``'s port (read from /proc, see
:mod:`watchdog.listeners`): a port held by another process is never proxied to. When
fprocess exits, the watchdog exits too, as of-watchdog does; whoever runs the replica
restarts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping

import aiohttp
from yarl import URL

from plumbing.headers import HOP_BY_HOP
from watchdog.config import WatchdogSettings
from watchdog.listeners import Listener, listener_of
from watchdog.runners.base import ClientDisconnected, Message, Receive, Runner, Scope, Send, send_response, text_headers
from watchdog.runners.process import describe_exit, kill_group

__all__ = ["HttpRunner", "is_local", "proxied_headers"]

logger = logging.getLogger(__name__)

_PROBE_EVERY = 0.02
_STOP_GRACE = 5.0


def is_local(host: str) -> bool:
    """Whether ``host`` names this machine (loopback or any address): its listener can be read from /proc."""
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def proxied_headers(headers: Iterable[tuple[bytes, bytes]], drop: Iterable[bytes] = ()) -> list[tuple[bytes, bytes]]:
    """Headers minus hop-by-hop ones and ``drop``, names lower-cased as ASGI expects."""
    dropped = HOP_BY_HOP.union(drop)
    return [(name.lower(), value) for name, value in headers if name.lower() not in dropped]


async def _request_body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        if chunk := message.get("body", b""):
            yield chunk
        if not message.get("more_body", False):
            return


def _has_body(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    return any(name in (b"content-length", b"transfer-encoding") for name, _ in headers)


class _TrackedSend:
    """Remembers whether the response has started, so a failure knows if it can still choose the status."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


class HttpRunner(Runner):
    """Runs ``fprocess`` once and proxies calls to it; ready while its own server listens on ``upstream_url``."""

    def __init__(
        self, settings: WatchdogSettings, base_env: Mapping[str, str], *, stop: Callable[[], None] | None = None
    ) -> None:
        """Prepare the child's command line and the upstream address; nothing starts yet.

        ``stop`` ends the watchdog once fprocess is gone (by default a SIGTERM to itself: it drains and exits 1).
        """
        self._stop = stop or _terminate_self
        self._argv = settings.argv
        self._env = dict(base_env)
        self._upstream = settings.upstream_url.rstrip("/")
        self._address = URL(settings.upstream_url)
        self._exec_timeout = settings.exec_seconds
        self._ready = asyncio.Event()
        self._stopping = False
        self._reason = ""
        self._failure: str | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def ready(self) -> bool:
        """The child runs and its own server listens on the upstream's port."""
        return self._ready.is_set()

    @property
    def not_ready_reason(self) -> str:
        """What the upstream is waiting for, or what stands in its way."""
        return self._reason

    @property
    def failure(self) -> str | None:
        """Why fprocess is gone, once it exited on its own."""
        return self._failure

    async def wait_ready(self) -> None:
        """Return once the upstream is ready."""
        await self._ready.wait()

    async def startup(self) -> None:
        """Open the HTTP client and start fprocess."""
        connector = aiohttp.TCPConnector(limit=0, force_close=False)
        self._session = aiohttp.ClientSession(
            connector=connector, auto_decompress=False, timeout=aiohttp.ClientTimeout(total=None)
        )
        self._supervisor = asyncio.create_task(self._run_child())

    async def shutdown(self) -> None:
        """Stop the child (SIGTERM, then SIGKILL after a grace period) and close the client."""
        self._stopping = True
        self._ready.clear()
        if self._process is not None and self._process.returncode is None:
            kill_group(self._process.pid, signal.SIGTERM)
            try:
                async with asyncio.timeout(_STOP_GRACE):
                    await self._process.wait()
            except TimeoutError:
                kill_group(self._process.pid)
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        if self._session is not None:
            await self._session.close()

    async def _run_child(self) -> None:
        try:
            self._process = await asyncio.create_subprocess_exec(*self._argv, env=self._env, start_new_session=True)
        except OSError as exc:
            self._give_up(f"cannot start fprocess {self._argv[0]}: {exc}")
            return
        logger.info("Started fprocess (pid %d), waiting for %s", self._process.pid, self._upstream)
        probe = asyncio.create_task(self._await_upstream(self._process.pid))
        code = await self._process.wait()
        self._ready.clear()
        probe.cancel()
        if not self._stopping:
            kill_group(self._process.pid)  # what the function left behind goes with it
            self._give_up(f"Forked function has terminated: {describe_exit(code)}")

    def _give_up(self, reason: str) -> None:
        logger.error("%s", reason)
        self._failure = self._reason = reason
        self._stop()

    async def _await_upstream(self, session: int) -> None:
        host, port = self._address.host or "127.0.0.1", self._address.port or 80
        self._reason = f"waiting for {self._upstream}"
        while True:
            if await self._serves(host, port, session):
                break
            await asyncio.sleep(_PROBE_EVERY)  # /proc cannot be awaited: poll it
        self._reason = ""
        self._ready.set()
        logger.info("Upstream %s is ready", self._upstream)

    async def _serves(self, host: str, port: int, session: int) -> bool:
        if not is_local(host):
            return await _accepts(host, port)
        listener = listener_of(port, session)
        if listener is Listener.OTHER and not self._reason.startswith("port"):
            self._reason = f"port {port} is held by another process"
            logger.error("Not ready: %s, not by fprocess; calls are not proxied there", self._reason)
        return listener is Listener.OWN

    async def invoke(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Forward one call to the upstream and stream its answer back, with ``X-Duration-Seconds``."""
        if not self._ready.is_set():
            # Never proxied to a port fprocess does not own: it might be another process's.
            message = f"Can't reach service for: {self._upstream}: {self._reason or 'not ready'}\n"
            await send_response(send, 502, message.encode(), text_headers())
            return
        started = time.perf_counter()
        tracked = _TrackedSend(send)
        try:
            async with asyncio.timeout(self._exec_timeout) as deadline:
                response = await self._forward(scope, receive)
                await self._relay(response, tracked, started)
        except ClientDisconnected:
            return
        except (aiohttp.ClientError, TimeoutError) as exc:
            if isinstance(exc, TimeoutError) and not deadline.expired():
                raise
            await self._fail(tracked, exc)

    async def _fail(self, send: _TrackedSend, exc: Exception) -> None:
        if send.started:
            # Too late for a status: leaving the response incomplete makes the server drop the connection.
            logger.error("Upstream response cut short: %s", str(exc) or type(exc).__name__)
            return
        if isinstance(exc, TimeoutError):
            logger.error("Upstream did not answer within exec_timeout (%ss)", self._exec_timeout)
            await send_response(send, 504, b"Function did not finish within exec_timeout.\n", text_headers())
            return
        logger.error("Upstream %s failed: %s", self._upstream, exc)
        message = f"Can't reach service for: {self._upstream}: {exc}\n".encode()
        await send_response(send, 502, message, text_headers())

    async def _forward(self, scope: Scope, receive: Receive) -> aiohttp.ClientResponse:
        if self._session is None:
            raise RuntimeError("HttpRunner.startup() was not awaited")
        path = scope.get("raw_path") or scope["path"].encode()
        query = scope["query_string"]
        target = self._upstream + path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
        headers = proxied_headers(scope["headers"], drop=(b"host",))
        body = _request_body(receive) if _has_body(scope["headers"]) else None
        return await self._session.request(
            scope["method"],
            URL(target, encoded=True),
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers],
            data=body,
            allow_redirects=False,
        )

    async def _relay(self, response: aiohttp.ClientResponse, send: _TrackedSend, started: float) -> None:
        async with response:
            headers = proxied_headers(response.raw_headers)
            headers.append((b"x-duration-seconds", b"%f" % (time.perf_counter() - started)))
            await send({"type": "http.response.start", "status": response.status, "headers": headers})
            async for chunk in response.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})


async def _accepts(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection(host, port)
    except OSError:
        return False
    writer.close()
    return True


def _terminate_self() -> None:
    signal.raise_signal(signal.SIGTERM)  # uvicorn drains; main then exits 1 for the runner's failure
