"""The fault tests' stack: every part a real process that a test may kill, stop or restart.

- nats-server with its file store (:mod:`faasq.natsserver`), restartable on the same port and store, or
  a cluster of three (:mod:`tests.support.nats_cluster`);
- ``faasq up`` using that server as an external NATS (:class:`tests.support.stack.Stack`): the
  provider, with the ``record`` function (``tests/support/recorder.py``, an http-mode upstream), and
  the gateway;
- queue workers as ``faasq-worker`` processes that the test starts, each with its own settings;
- a callback receiver under uvicorn (:mod:`tests.support.callbacks`) that can go down and come back.

Every run of the function appends its call id to a file and the receiver keeps every callback,
so a test compares both, call id by call id, with the calls the gateway accepted (202).
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import nats
import nats.errors
from nats.aio.client import Client
from nats.js.errors import NotFoundError, ServiceUnavailableError

from calls.deadletters import DEFAULT_DEAD_LETTER_STREAM, DeadLetterEntry
from calls.wire import DEFAULT_STREAM
from faasq.natsserver import NatsServer
from queue_worker.config import WorkerSettings
from tests.support.callbacks import Receiver, ReceiverServer
from tests.support.nats_cluster import NatsCluster
from tests.support.paths import ROOT
from tests.support.polling import eventually, until
from tests.support.sockets import free_port
from tests.support.stack import ENVIRON, Stack

FUNCTION = "record"
RECORDER = Path(__file__).with_name("recorder.py")
CONSUMER = "faas-default"
CALLBACK_STREAM = WorkerSettings.model_fields["callback_stream"].default
# python -P: the recorder imports the standard library alone, whatever sits beside it in tests/support/.
_STACK = """\
version: 1.0
provider:
  name: openfaas
functions:
  record:
    image: faasq/record:latest
    fprocess: "{python} -P {recorder}"
    environment:
      mode: http
      upstream_url: "http://127.0.0.1:{port}"
      PORT: "{port}"
      RUNS: "{runs}"
      FAIL_RATE: "{fail_rate}"
"""
# Seconds, not the defaults' 2: a restarted NATS is found again within a fraction of a second.
_NATS_CLIENT = {"faas_reconnect_delay": "100ms"}
_WORKER = {**_NATS_CLIENT, "gateway_invoke": "false", "faas_max_reconnect": "-1", "shutdown_grace": "20s"}


@dataclass
class Worker:
    """A ``faasq-worker`` process; its log (stderr) goes to a file."""

    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        """``kill -9``: no drain, no ack, no nak; JetStream redelivers its calls after ``ack_wait``."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self, within: float = 30.0) -> int:
        """SIGTERM, then wait for the drain; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(within)

    def lines(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines()

    def pulling(self) -> bool:
        """Whether it has connected and pulls calls; fails the test if it exited."""
        assert self.process.poll() is None, f"the worker exited with {self.process.returncode}: {self.lines()}"
        return any(" pulling " in line for line in self.lines())


@dataclass(frozen=True)
class Tally:
    """What arrived for a set of accepted calls: runs of the function and callbacks, per call id."""

    accepted: list[str]
    runs: Counter[str]
    callbacks: Counter[str]

    @property
    def missing(self) -> set[str]:
        """Accepted calls that never ran or never called back."""
        return {call for call in self.accepted if not self.runs[call] or not self.callbacks[call]}

    @property
    def duplicated(self) -> set[str]:
        """Calls that ran, or called back, more than once."""
        return {call for call in self.accepted if self.runs[call] > 1 or self.callbacks[call] > 1}

    @property
    def strangers(self) -> set[str]:
        """Call ids that ran or called back but were never accepted."""
        return (set(self.runs) | set(self.callbacks)) - set(self.accepted)


class Faults:
    """The stack of one fault test. Build it with :func:`fault_stack`."""

    def __init__(
        self, tmp_path: Path, receiver: Receiver, callbacks: ReceiverServer, nats_server: NatsServer | NatsCluster
    ) -> None:
        self.tmp_path = tmp_path
        self.receiver = receiver
        self.callbacks = callbacks
        self.nats = nats_server
        self.runs_file = tmp_path / "runs"
        self._started: list[Worker] = []
        self.stack: Stack | None = None

    @property
    def gateway(self) -> str:
        assert self.stack is not None
        return self.stack.url

    def start_stack(self, fail_rate: float, env: Mapping[str, str]) -> Stack:
        stack_file = self.tmp_path / "stack.yml"
        stack_file.write_text(
            _STACK.format(
                python=sys.executable, recorder=RECORDER, port=free_port(), runs=self.runs_file, fail_rate=fail_rate
            )
        )
        settings = {"FAASQ_NATS_URL": self.nats.url, **_NATS_CLIENT, **env}
        # As long as faasq up's own deadlines: on a loaded machine its start takes most of them.
        self.stack = Stack(stack_file, self.tmp_path / "state", env=settings, workers=0, within=90)
        return self.stack

    def workers(self, count: int, **env: str) -> list[Worker]:
        """Start ``count`` ``faasq-worker`` processes on the default queue, invoking the provider; ``env`` overrides
        settings. Returns once each one pulls from its queue."""
        started = [self._worker(**env) for _ in range(count)]
        until(lambda: all(worker.pulling() for worker in started) or None, within=60, every=0.05)
        return started

    def _worker(self, **env: str) -> Worker:
        assert self.stack is not None
        settings = {
            **_WORKER,
            "nats_servers": self.nats.url,
            "functions_provider_url": self.stack.ready["provider"],
            **env,
        }
        log = self.tmp_path / f"worker-{len(self._started) + 1}.log"
        with log.open("wb") as stderr:
            process = subprocess.Popen(  # the console script's entry point, with this interpreter
                [sys.executable, "-m", "queue_worker.main", "--queue", "default"],
                env={**ENVIRON, **settings},
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stderr=stderr,
            )
        worker = Worker(process, log)
        self._started.append(worker)
        self.receiver.senders.append(worker.pid)
        return worker

    def stop_nats(self) -> None:
        """Stop nats-server (SIGTERM: JetStream flushes its file store) and wait until it is gone."""
        assert isinstance(self.nats, NatsServer)
        self.nats.stop()

    def start_nats(self) -> None:
        """Start nats-server again on the same port with the same store."""
        assert isinstance(self.nats, NatsServer)
        self.nats = NatsServer.start(self.nats.store_dir, host=self.nats.host, port=self.nats.port)

    async def connect(self) -> Client:
        """A NATS client of this stack's server (any node of a cluster)."""
        return await nats.connect(servers=self.nats.url.split(","))

    async def post(self, client: httpx.AsyncClient, headers: Mapping[str, str] | None = None) -> httpx.Response:
        """One async call to the ``record`` function, with this stack's callback URL."""
        headers = {"X-Callback-Url": f"{self.callbacks.url}/cb", **(headers or {})}
        return await client.post(f"/async-function/{FUNCTION}", content=b"x", headers=headers)

    async def submit(
        self, count: int, headers: Mapping[str, str] | None = None, *, call_ids: Sequence[str] = (), at_once: int = 32
    ) -> list[str]:
        """Make ``count`` async calls, ``at_once`` at a time; each must be accepted (202). Returns their call ids.

        ``call_ids``: the calls' own ``X-Call-Id`` (as many as ``count``); else the gateway picks them.
        """
        limit = asyncio.Semaphore(at_once)
        ids: list[str | None] = list(call_ids) or [None] * count
        assert len(ids) == count

        async def one(client: httpx.AsyncClient, call_id: str | None) -> str:
            own = {"X-Call-Id": call_id} if call_id else {}
            async with limit:
                response = await self.post(client, {**(headers or {}), **own})
            assert response.status_code == 202, (response.status_code, response.text)
            return response.headers["X-Call-Id"]

        async with self.client() as client:
            return list(await asyncio.gather(*(one(client, call_id) for call_id in ids)))

    def client(self) -> httpx.AsyncClient:
        """An HTTP client of the gateway."""
        return httpx.AsyncClient(base_url=self.gateway, timeout=30)

    async def records(self, call_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The calls' status records, from ``GET /async-calls/<call-id>``."""
        async with self.client() as client:
            responses = [await client.get(f"/async-calls/{call_id}") for call_id in call_ids]
        assert [response.status_code for response in responses] == [200] * len(call_ids)
        return {call_id: response.json() for call_id, response in zip(call_ids, responses, strict=True)}

    def runs(self) -> Counter[str]:
        """How often the function ran, per call id."""
        return Counter(self.runs_file.read_text().split()) if self.runs_file.exists() else Counter()

    def called_back(self) -> Counter[str]:
        """How many callbacks arrived, per call id."""
        return Counter(call.headers.get("x-call-id", "") for call in list(self.receiver.calls))

    def tally(self, accepted: list[str]) -> Tally:
        """Runs and callbacks of ``accepted``, as they are now."""
        return Tally(accepted, self.runs(), self.called_back())

    async def some_called_back(self, count: int, within: float = 60.0) -> int:
        """Wait until at least ``count`` callbacks arrived (a run under way); returns how many."""

        async def enough() -> int | None:
            arrived = len(self.called_back())
            return arrived if arrived >= count else None

        return await eventually(enough, within=within, every=0.005)

    async def all_called_back(self, accepted: list[str], within: float) -> None:
        """Wait until every accepted call has at least one callback."""

        async def done() -> bool | None:
            return True if set(accepted) <= set(self.called_back()) else None

        try:
            await eventually(done, within=within, every=0.05)
        except TimeoutError:
            missing = len(set(accepted) - set(self.called_back()))
            raise AssertionError(f"{missing} of {len(accepted)} calls had no callback within {within:g}s") from None

    async def dead_letters(self) -> dict[str, DeadLetterEntry]:
        """The dead-letter stream's entries, by call id."""
        nc = await self.connect()
        try:
            js = nc.jetstream()
            count = (await js.stream_info(DEFAULT_DEAD_LETTER_STREAM)).state.messages
            if count == 0:
                return {}
            subscription = await js.pull_subscribe(f"{DEFAULT_DEAD_LETTER_STREAM}.>", stream=DEFAULT_DEAD_LETTER_STREAM)
            messages = await subscription.fetch(count, timeout=5)
        finally:
            await nc.close()
        entries = [DeadLetterEntry.from_message(m.headers, m.data, m.metadata.sequence.stream) for m in messages]
        return {entry.call.call_id: entry for entry in entries}

    async def settled(self, within: float = 30.0) -> None:
        """Wait until the queue has nothing pending and nothing unacknowledged, and no callback is stored:
        no run or callback can follow.

        A callback held by a worker that was killed after its call was acked is delivered by another
        worker once it falls due (``ack_wait`` + ``callback_timeout`` after it was stored).
        """

        async def idle() -> bool | None:
            nc = await self.connect()
            try:
                js = nc.jetstream()
                info = await js.consumer_info(DEFAULT_STREAM, CONSUMER)
                try:
                    stored = (await js.stream_info(CALLBACK_STREAM)).state.messages
                except NotFoundError:  # no worker started
                    stored = 0
            except (nats.errors.TimeoutError, ServiceUnavailableError):  # a cluster still electing a leader
                return None
            finally:
                await nc.close()
            return True if info.num_pending == 0 and info.num_ack_pending == 0 and stored == 0 else None

        await eventually(idle, within=within, every=0.2)

    def close(self) -> None:
        for worker in self._started:
            try:
                worker.terminate()
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()
                raise
        if self.stack is not None:
            assert self.stack.stop() == 0, self.stack.output()


@contextmanager
def fault_stack(
    tmp_path: Path,
    *,
    fail_rate: float = 0.0,
    env: Mapping[str, str] | None = None,
    cluster: NatsCluster | None = None,
) -> Iterator[Faults]:
    """nats-server, ``faasq up`` (provider with ``record``, gateway) and a callback receiver; no worker yet.

    ``env`` reaches every process ``faasq up`` starts (the gateway's settings). With a running
    ``cluster``, the stack uses its nodes instead of a server of its own.
    """
    receiver = Receiver()
    with ExitStack() as stack:
        callbacks = ReceiverServer(receiver)
        stack.callback(callbacks.close)
        callbacks.start()
        if cluster is None:
            first = NatsServer.start(tmp_path / "nats")
            faults = Faults(tmp_path, receiver, callbacks, first)
            stack.callback(faults.stop_nats)  # whichever server runs at the end
        else:
            faults = Faults(tmp_path, receiver, callbacks, cluster)
        stack.callback(faults.close)
        faults.start_stack(fail_rate, env or {})
        yield faults
