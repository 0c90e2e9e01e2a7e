"""Serializing mode, the classic watchdog: fork fprocess per call, body to stdin, buffered stdout back."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from watchdog.cgi import Headers, cgi_env, marshal_request, response_content_type
from watchdog.config import WatchdogSettings
from watchdog.runners import spawn
from watchdog.runners.base import (
    ClientDisconnected,
    Receive,
    Runner,
    Scope,
    Send,
    read_body,
    send_response,
    text_headers,
)
from watchdog.runners.process import Command, describe_exit, run_buffered_portable

__all__ = ["ForkRunner", "Outcome", "render"]

logger = logging.getLogger(__name__)

KILLED = b"Killed process.\n"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one run of fprocess produced; ``returncode`` is None when exec_timeout killed it."""

    returncode: int | None
    output: bytes
    stderr: bytes = b""


def render(outcome: Outcome, settings: WatchdogSettings) -> tuple[int, bytes]:
    """The status and body for an outcome, as the classic watchdog answers."""
    if outcome.returncode is None:
        limit = settings.exec_timeout.total_seconds()
        reason = f"fprocess ran longer than exec_timeout ({limit:g}s); its process group was killed.\n"
        return 408, KILLED + reason.encode()
    if outcome.returncode != 0:
        # OpenFaaS: the error text, a newline, then the output (combined, or stdout alone)
        return 500, describe_exit(outcome.returncode).encode() + b"\n" + outcome.output
    return 200, outcome.output


class ForkRunner(Runner):
    """Forks ``fprocess`` for every call and answers once it has exited."""

    def __init__(self, settings: WatchdogSettings, base_env: Mapping[str, str]) -> None:
        """Prepare what every call shares: the argv, the inherited environment, the stderr wiring."""
        self._settings = settings
        self._command = Command(settings.argv, base_env)
        # posix_spawn and a pidfd cost a third of asyncio's subprocess machinery per call (docs/performance.md)
        self._execute = spawn.run_buffered if spawn.available() else run_buffered_portable
        self._exec_timeout = settings.exec_seconds
        self._read_timeout = settings.read_timeout.total_seconds() or None

    async def invoke(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run fprocess once with the request and send its buffered output."""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._read_timeout):
                body = await read_body(receive)
        except TimeoutError:
            await send_response(send, 408, b"Request body was not read within read_timeout.\n", text_headers())
            return
        except ClientDisconnected:
            return
        headers = scope["headers"]
        stdin = marshal_request(body, headers) if self._settings.marshal_request else body
        outcome = await self._run(stdin, self._environment(scope))
        status, response = render(outcome, self._settings)
        await self._answer(send, status, response, headers, started)
        if self._settings.write_debug:
            logger.info("Request: %r Response: %r", body, response)

    def _environment(self, scope: Scope) -> Mapping[bytes, bytes]:
        if not self._settings.cgi_headers:
            return self._command.env
        return cgi_env(self._command.env, scope["method"], scope["path"], scope["query_string"], scope["headers"])

    async def _run(self, stdin: bytes, env: Mapping[bytes, bytes]) -> Outcome:
        logger.info("Forking fprocess.")
        try:
            finished = await self._execute(
                self._command, env, stdin, merge_stderr=self._settings.combine_output, kill_after=self._exec_timeout
            )
        except OSError as exc:
            logger.error("Cannot start fprocess %s: %s", self._command.argv[0], exc)
            return Outcome(127, f"cannot start fprocess {self._command.argv[0]}: {exc.strerror}\n".encode())
        if finished is None:
            logger.warning("Killed fprocess: exec_timeout %ss exceeded", self._exec_timeout)
            return Outcome(None, b"")
        if finished.stderr:
            logger.info("stderr: %s", finished.stderr.decode(errors="replace").rstrip("\n"))
        return Outcome(finished.returncode, finished.stdout, finished.stderr)

    async def _answer(self, send: Send, status: int, body: bytes, headers: Headers, started: float) -> None:
        duration = time.perf_counter() - started
        if status != 200:
            logger.info("%s - Duration: %.3fs", body.split(b"\n", 1)[0].decode(errors="replace"), duration)
            await send_response(send, status, body, text_headers())
            return
        extra = [(b"x-duration-seconds", b"%f" % duration)]
        if (content_type := response_content_type(self._settings.content_type, headers)) is not None:
            extra.append((b"content-type", content_type))
        await send_response(send, 200, body, extra)
        logger.info("Wrote %d Bytes - Duration: %f seconds", len(body), duration)
