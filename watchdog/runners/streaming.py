"""Streaming mode: fork fprocess per call and stream its stdout to the client as it is written."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping

from watchdog.cgi import cgi_env, response_content_type
from watchdog.config import WatchdogSettings
from watchdog.runners.base import Receive, Runner, Scope, Send, send_response, text_headers
from watchdog.runners.process import Command, describe_exit, kill_group, spawn

__all__ = ["StreamingRunner"]

logger = logging.getLogger(__name__)

_CHUNK = 64 * 1024


async def _feed(receive: Receive, stdin: asyncio.StreamWriter) -> None:
    """Copy the request body into stdin as it arrives, then close stdin."""
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            stdin.write(message.get("body", b""))
            await stdin.drain()
            if not message.get("more_body", False):
                return
    except (BrokenPipeError, ConnectionResetError):
        return  # the function stopped reading; its output still counts
    finally:
        stdin.close()


async def _copy_output(stdout: asyncio.StreamReader, send: Send, written: list[int]) -> None:
    while chunk := await stdout.read(_CHUNK):
        written[0] += len(chunk)
        await send({"type": "http.response.body", "body": chunk, "more_body": True})


async def _log_stderr(stderr: asyncio.StreamReader) -> None:
    async for line in stderr:
        logger.info("stderr: %s", line.decode(errors="replace").rstrip("\n"))


class StreamingRunner(Runner):
    """Forks ``fprocess`` per call; the 200 goes out first, then stdout chunk by chunk.

    A non-zero exit cannot change the status any more; it is logged. stderr goes to the log.
    """

    def __init__(self, settings: WatchdogSettings, base_env: Mapping[str, str]) -> None:
        """Prepare what every call shares."""
        self._settings = settings
        self._command = Command(settings.argv, base_env)

    async def invoke(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run fprocess, streaming the request into it and its output back."""
        started = time.perf_counter()
        logger.info("Forking fprocess.")
        try:
            process = await spawn(self._command, self._environment(scope))
        except OSError as exc:
            logger.error("Cannot start fprocess %s: %s", self._command.argv[0], exc)
            await send_response(send, 500, f"cannot start fprocess: {exc.strerror}\n".encode(), text_headers())
            return
        try:
            written = await self._stream(scope, receive, send, process)
        finally:
            kill_group(process.pid)  # nothing the function started outlives its call
        logger.info("Wrote %d Bytes - Duration: %f seconds", written, time.perf_counter() - started)

    def _environment(self, scope: Scope) -> Mapping[bytes, bytes]:
        if not self._settings.cgi_headers:
            return self._command.env
        return cgi_env(self._command.env, scope["method"], scope["path"], scope["query_string"], scope["headers"])

    async def _stream(self, scope: Scope, receive: Receive, send: Send, process: asyncio.subprocess.Process) -> int:
        if process.stdin is None or process.stdout is None or process.stderr is None:
            raise RuntimeError("spawn() gives every child stdin, stdout and stderr pipes")
        feeder = asyncio.create_task(_feed(receive, process.stdin))
        stderr = asyncio.create_task(_log_stderr(process.stderr))
        headers = []
        if (content_type := response_content_type(self._settings.content_type, scope["headers"])) is not None:
            headers.append((b"content-type", content_type))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        written = [0]
        try:
            async with asyncio.timeout(self._settings.exec_seconds):
                await _copy_output(process.stdout, send, written)
                await process.wait()
        except TimeoutError:
            logger.warning("Killing fprocess: exec_timeout exceeded; the response is cut short")
        finally:
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeder
        kill_group(process.pid)  # also whatever it left running in the background
        await process.wait()
        await stderr
        await send({"type": "http.response.body", "body": b""})
        if process.returncode:
            logger.error("fprocess failed after the response started: %s", describe_exit(process.returncode))
        return written[0]
