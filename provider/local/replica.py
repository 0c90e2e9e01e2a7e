"""One replica: a watchdog subprocess on a loopback socket, restarted with backoff until stopped.

The replica owns its listening socket for its whole life, so its URL stays the same across
restarts; the watchdog gets the socket's descriptor (``listen_fd``) instead of a port number.
Where the machine allows it, the watchdog runs in namespaces of its own (:mod:`provider.local.sandbox`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from provider.local import sandbox
from provider.local.orphans import PID_FILE
from provider.local.policy import Backoff, count_failures, restart_delay
from provider.types import FunctionDeployment

__all__ = ["WATCHDOG_SETTINGS", "Instance", "Launch", "Replica", "http_probe", "replica_env"]

logger = logging.getLogger(__name__)

WATCHDOG_SETTINGS = frozenset(
    {
        "fprocess",
        "function_process",
        "mode",
        "upstream_url",
        "http_upstream_url",
        "exec_timeout",
        "read_timeout",
        "write_timeout",
        "healthcheck_interval",
        "max_inflight",
        "combine_output",
        "cgi_headers",
        "marshal_request",
        "content_type",
        "suppress_lock",
        "write_debug",
        "prefix_logs",
        "log_buffer_size",
        "buffer_http",
        "http_buffer_req_body",
        "static_path",
        "ready_path",
        "log_callid",
        "port",
        "listen_fd",
        "lock_path",
        "bind_address",
        "secret_mount_path",
    }
)
"""Watchdog settings never inherited from the provider's environment: only the deployment sets them."""

_STARTING_PROBE_INTERVAL = 0.05
_UP_PROBE_INTERVAL = 1.0
_PROBE_TIMEOUT = 1.0
_LINE_LIMIT = 1 << 20
_PIPE_DRAIN = 2.0

Probe = Callable[[str], Awaitable[str | None]]
"""Asks the watchdog at a URL whether it is ready: None if it is, else why not (empty: it does not say)."""
LogSink = Callable[[str, str], None]


def replica_env(
    inherited: Mapping[str, str], deployment: FunctionDeployment, *, listen_fd: int, run_dir: Path, hostname: str
) -> dict[str, str]:
    """The watchdog's environment: inherited (minus watchdog settings), the function's envVars, then ours."""
    env = {key: value for key, value in inherited.items() if key not in WATCHDOG_SETTINGS}
    env.update(deployment.env_vars or {})
    env.update(
        fprocess=deployment.env_process or "",
        listen_fd=str(listen_fd),
        lock_path=str(run_dir / ".lock"),
        bind_address="127.0.0.1",
        secret_mount_path=str(run_dir / "secrets"),
        HOSTNAME=hostname,  # as a pod's: the replica's name
    )
    return env


async def http_probe(client: httpx.AsyncClient, url: str) -> str | None:
    """None if the watchdog at ``url`` answers ``GET /_/health`` with 200; else why it is not ready."""
    try:
        response = await client.get(f"{url}/_/health", timeout=_PROBE_TIMEOUT)
    except httpx.HTTPError as exc:
        return f"the watchdog does not answer ({type(exc).__name__})"
    if response.status_code == httpx.codes.OK:
        return None
    return response.text.strip()[:200]  # what the watchdog says stands in the way; often nothing


@dataclass(frozen=True)
class Launch:
    """How to start a replica's watchdog; ``prepare`` refreshes its secret files before each start.

    ``workdir`` is the folder it runs in; ``sandboxed``: in mount and UTS namespaces of its own, and
    ``private_network``: in a network namespace of its own too.
    """

    function: str
    command: Sequence[str]
    deployment: FunctionDeployment
    workdir: Path
    prepare: Callable[[Path], None]
    probe: Probe
    sink: LogSink
    on_change: Callable[[], None]
    stop_timeout: float
    sandboxed: bool = False
    private_network: bool = False
    backoff: Backoff = field(default_factory=Backoff)


@dataclass(frozen=True)
class Instance:
    """A replica as the provider reports it to operators and tests."""

    id: str
    url: str
    pid: int | None
    available: bool
    restarts: int
    generation: int = 0
    """Which definition of the function it runs: a redefinition rolls replicas to the next one."""
    reason: str = ""
    """Why it is not available, as its watchdog said (empty when it is, or before the first check)."""


def _kill_group(pid: int) -> None:
    # The watchdog leads its own session: this reaches the function processes it left behind.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


class Replica:
    """A supervised watchdog subprocess; :meth:`start` it once and :meth:`stop` it once."""

    def __init__(self, replica_id: str, generation: int, launch: Launch, run_dir: Path) -> None:
        self.id = replica_id
        self.generation = generation
        self.restarts = 0
        self._launch = launch
        self._run_dir = run_dir
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(1024)
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self._available = False
        self._reason = ""
        self._proc: asyncio.subprocess.Process | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def available(self) -> bool:
        """Whether the last health check passed."""
        return self._available

    def info(self) -> Instance:
        """A snapshot for reporting."""
        pid = self._proc.pid if self._proc is not None and self._proc.returncode is None else None
        return Instance(
            id=self.id,
            url=self.url,
            pid=pid,
            available=self._available,
            restarts=self.restarts,
            generation=self.generation,
            reason=self._reason,
        )

    def refresh_secrets(self) -> None:
        """Rewrite this replica's secret files with the current values."""
        self._launch.prepare(self._run_dir / "secrets")

    def start(self) -> None:
        """Start supervising: the watchdog is spawned in the background."""
        self._task = asyncio.create_task(self._supervise(), name=f"replica {self.id}")
        self._task.add_done_callback(self._report_crash)

    async def stop(self, linger: float = 0.0) -> None:
        """Stop gracefully (SIGTERM, then SIGKILL after the stop timeout) and clean up.

        Args:
            linger: seconds to keep serving first, for calls resolved to this replica just before.
        """
        if linger > 0:
            await asyncio.sleep(linger)
        self._stop.set()
        self._set_available(False)
        if self._task is not None:
            await asyncio.wait({self._task})  # never cancels the supervisor, whose finally reaps the process
        self._socket.close()
        shutil.rmtree(self._run_dir, ignore_errors=True)

    def _report_crash(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (error := task.exception()) is not None:
            logger.error(
                "function %s: replica %s is no longer supervised", self._launch.function, self.id, exc_info=error
            )

    def _set_available(self, available: bool) -> None:
        if available != self._available:
            self._available = available
            self._launch.on_change()

    async def _supervise(self) -> None:
        failures = 0
        loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            started = loop.time()
            code = await self._run_once()
            if self._stop.is_set():
                return
            failures = count_failures(failures, loop.time() - started, self._launch.backoff)
            delay = restart_delay(failures, self._launch.backoff)
            self.restarts += 1
            logger.warning(
                "function %s: replica %s exited (%s); restart %d in %.1fs",
                self._launch.function,
                self.id,
                code,
                self.restarts,
                delay,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)

    async def _spawn(self) -> asyncio.subprocess.Process:
        launch, secrets = self._launch, self._run_dir / "secrets"
        (self._run_dir / ".lock").unlink(missing_ok=True)
        launch.prepare(secrets)
        fd = self._socket.fileno()
        env = replica_env(os.environ, launch.deployment, listen_fd=fd, run_dir=self._run_dir, hostname=self.id)
        command = list(launch.command)
        if launch.sandboxed:
            command = sandbox.sandboxed(command, hostname=self.id, secrets=secrets, network=launch.private_network)
        return await asyncio.create_subprocess_exec(
            *command,
            cwd=launch.workdir,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            pass_fds=(fd,),
            start_new_session=True,
            limit=_LINE_LIMIT,
        )

    async def _run_once(self) -> str:
        try:
            proc = await self._spawn()
        except (OSError, ValueError) as exc:
            return f"could not start: {exc}"
        self._proc = proc
        try:
            with contextlib.suppress(OSError):  # lets the next provider clean up if this one dies
                (self._run_dir / PID_FILE).write_text(str(proc.pid))
            return await self._watch(proc)
        finally:
            self._set_available(False)
            if proc.returncode is None:
                _kill_group(proc.pid)

    async def _watch(self, proc: asyncio.subprocess.Process) -> str:
        streams = [stream for stream in (proc.stdout, proc.stderr) if stream is not None]
        pumps = [asyncio.create_task(self._pump(stream)) for stream in streams]
        probing = asyncio.create_task(self._probe_loop())
        try:
            code = await self._wait_or_stop(proc)
        finally:
            probing.cancel()
            self._set_available(False)
            _kill_group(proc.pid)
            await self._drain(pumps)
            with contextlib.suppress(asyncio.CancelledError):
                await probing
        return f"exit code {code}"

    async def _wait_or_stop(self, proc: asyncio.subprocess.Process) -> int:
        exited = asyncio.create_task(proc.wait())
        stopping = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            exited.cancel()
            raise
        finally:
            stopping.cancel()
        if not exited.done():
            await self._terminate(proc, exited)
        return await exited

    async def _terminate(self, proc: asyncio.subprocess.Process, exited: asyncio.Task[int]) -> None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            await asyncio.wait_for(asyncio.shield(exited), self._launch.stop_timeout)
        except TimeoutError:
            logger.warning("function %s: replica %s did not drain in time, killed", self._launch.function, self.id)
            _kill_group(proc.pid)

    async def _drain(self, pumps: list[asyncio.Task[None]]) -> None:
        # A process that escaped the group may hold our pipes open: stop reading after a while.
        _, pending = await asyncio.wait(pumps, timeout=_PIPE_DRAIN)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _pump(self, stream: asyncio.StreamReader) -> None:
        while True:
            try:
                line = await stream.readline()
            except ValueError:
                self._launch.sink(self.id, "[faasq: line longer than 1 MiB dropped]")
                continue
            if not line:
                return
            self._launch.sink(self.id, line.decode(errors="replace").rstrip("\r\n"))

    async def _probe_loop(self) -> None:
        while True:
            reason = await self._launch.probe(self.url)
            self._note(reason)
            self._set_available(reason is None)
            await asyncio.sleep(_UP_PROBE_INTERVAL if reason is None else _STARTING_PROBE_INTERVAL)

    def _note(self, reason: str | None) -> None:
        text = reason or ""
        if text and text != self._reason:
            logger.info("function %s: replica %s is not ready: %s", self._launch.function, self.id, text)
        self._reason = text
