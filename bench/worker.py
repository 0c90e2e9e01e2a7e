"""End-to-end throughput and idle latency of the queue worker against a minimal reference loop.

Starts a private nats-server, a no-op function (a raw ASGI app under uvicorn answering
``/function/<name>`` with the request's body) and a callback receiver (a raw ASGI app
recording each call id's arrival time), each in a process of its own on a loopback socket.
Each side gets its own stream. In alternating rounds it stores a backlog of calls (128-byte
bodies, each with ``X-Callback-Url``), starts the side's processes, and times the callbacks
from the first to the last: ``faasq-worker`` with 1 and with 2 processes (``gateway_invoke=false``,
straight to the function), and the reference (below: fetch a batch, POST the function, POST
the callback, ack, with nats-py and aiohttp); and ``faasq-worker`` with 1 process and
``call_status=false``, for the cost of keeping call status records. Every call must be called back exactly once.
Then, with one process of each side running, it sends calls one at a time and reports the
p50/p99 time from publish to callback. Run: ``.venv/bin/python bench/worker.py``.

``x1 limited`` runs calls under a concurrency limit that never holds one back: what a limit costs
per call; ``x1 keyed`` and ``x1 rated`` do the same for a limit per concurrency key and a rate.
``--sides`` picks the sides (the reference always runs).

The workers count into a metrics folder, as under ``faasq up``. The cost of instrumentation is
measured in the same run: ``x1 bare`` is ``worker x1`` with ``metrics=false``, and ``x1 traced``
runs calls that each carry a W3C trace context (no exporter configured).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import nats
import uvicorn
from starlette.types import Receive, Scope, Send

from calls.flow import Limits, concurrency_key_of
from calls.streams import ensure_stream
from calls.wire import QueuedCall, call_subject
from faasq.natsserver import NatsServer
from plumbing.tracecontext import TraceContext

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SIDES = {
    "worker x1": ("bench-w1", 1),
    "x1 no status": ("bench-w1n", 1),
    "x1 bare": ("bench-w1b", 1),
    "x1 traced": ("bench-w1t", 1),
    "x1 limited": ("bench-w1l", 1),
    "x1 keyed": ("bench-w1k", 1),
    "x1 rated": ("bench-w1r", 1),
    "worker x2": ("bench-w2", 2),
    "reference": ("bench-ref", 1),
}
"""Each side: its stream and processes. ``x1 no status`` is ``worker x1`` with ``call_status=false``; ``x1 limited``
runs calls under a concurrency limit (``com.faasq.concurrency``) high enough never to hold one back: its cost alone;
``x1 keyed`` under a limit per concurrency key (16 keys), ``x1 rated`` under a rate that never runs out."""
KEYS = [concurrency_key_of(f"tenant-{n}") for n in range(16)]
LIMITS = {
    "x1 limited": lambda n: Limits(concurrency=10_000),
    "x1 keyed": lambda n: Limits(per_key=10_000, key=KEYS[n % len(KEYS)]),
    "x1 rated": lambda n: Limits(rate=1e6, burst=100_000),
}
RATIOS = (
    ("one worker process", "worker x1", "reference", 0.7),
    ("two worker processes", "worker x2", "reference", 0.6),
    ("under a concurrency limit", "x1 limited", "reference", 0.6),
    ("under a limit per concurrency key", "x1 keyed", "reference", 0.6),
    ("under a rate", "x1 rated", "reference", 0.6),
    ("call status on / off", "worker x1", "x1 no status", 0.5),
    ("metrics on / off", "worker x1", "x1 bare", 0.95),
    ("metrics and a trace context / neither", "x1 traced", "x1 bare", 0.9),
)
"""Each ratio the run reports: what it is, its two sides, and its target."""
TRACE = TraceContext("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")


async def reference(nats_url: str, stream: str, function_url: str) -> None:
    """The reference loop: fetch a batch, run each call (POST the function, POST the callback, ack) at once."""
    nc = await nats.connect(nats_url)
    sub = await nc.jetstream().pull_subscribe(f"{stream}.default.>", durable="ref", stream=stream)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:

        async def one(msg: Any) -> None:
            headers = msg.headers
            request = json.loads(headers["Faasq-Call"])
            async with http.post(f"{function_url}/function/{request['f']}", data=msg.data) as reply:
                body = await reply.read()
            callback = {"X-Call-Id": headers["Nats-Msg-Id"], "X-Function-Status": str(reply.status)}
            async with http.post(request["c"], data=body, headers=callback) as done:
                await done.read()
            await msg.ack()

        while True:
            try:
                msgs = await sub.fetch(64, timeout=1)
            except nats.errors.TimeoutError:
                continue
            await asyncio.gather(*(one(msg) for msg in msgs))


async def noop_function(scope: Scope, receive: Receive, send: Send) -> None:
    """A function that costs next to nothing: its answer is the request's body."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class CallbackReceiver:
    """Records ``(call id, time.time_ns())`` of each callback; ``GET /arrivals`` hands them over and forgets them."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[str, int]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] == "GET":
            body = json.dumps(self.arrivals).encode()
            self.arrivals = []
        else:
            while (await receive()).get("more_body"):
                pass
            call_id = next(v for k, v in scope["headers"] if k == b"x-call-id").decode()
            self.arrivals.append((call_id, time.time_ns()))
            body = b""
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
        await send({"type": "http.response.body", "body": body})


def serve(app: Any, fd: int) -> None:
    config = uvicorn.Config(app, access_log=False, log_config=None, loop="asyncio", http="httptools", lifespan="off")
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    uvicorn.Server(config).run(sockets=[socket.socket(fileno=fd)])


@contextlib.contextmanager
def server_process(role: str) -> Iterator[str]:
    """This script serving ``role`` (function or receiver) in a process of its own; yields its URL."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(1024)
        argv = [sys.executable, __file__, "--serve", role, "--fd", str(sock.fileno())]
        process = subprocess.Popen(argv, cwd=ROOT, pass_fds=[sock.fileno()])
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        with httpx.Client() as client:
            deadline = time.monotonic() + 20
            while True:
                with contextlib.suppress(httpx.TransportError):
                    client.get(f"{url}/arrivals")
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"the {role} did not start")
                time.sleep(0.05)
        yield url
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Bench:
    def __init__(
        self, nats_server: NatsServer, function_url: str, receiver_url: str, args: argparse.Namespace, metrics: Path
    ):
        self.metrics = metrics
        self.nats = nats_server
        self.function_url = function_url
        self.receiver_url = receiver_url
        self.args = args
        self.body = os.urandom(64).hex().encode()

    def start(self, side: str) -> list[subprocess.Popen[bytes]]:
        stream, count = SIDES[side]
        if side == "reference":
            argv = [sys.executable, __file__, "--serve", "reference", "--nats", self.nats.url, "--stream", stream]
            return [subprocess.Popen([*argv, "--function", self.function_url], cwd=ROOT)]
        env = os.environ | {
            "faas_nats_address": self.nats.host,
            "faas_nats_port": str(self.nats.port),
            "faas_nats_channel": stream,
            "gateway_invoke": "false",
            "functions_provider_url": self.function_url,
            "call_status": "false" if side == "x1 no status" else "true",
            "metrics": "false" if side == "x1 bare" else "true",
            "PROMETHEUS_MULTIPROC_DIR": str(self.metrics),
            "callback_stream": f"{stream}-cb",
            "flow_bucket": f"{stream}-flow",
        }
        return [subprocess.Popen([str(BIN / "faasq-worker")], env=env, cwd=ROOT) for _ in range(count)]

    async def publish(self, js: Any, stream: str, count: int) -> dict[str, int]:
        trace = TRACE if stream == SIDES["x1 traced"][0] else None
        limits = next((LIMITS[side] for side in LIMITS if SIDES[side][0] == stream), None)
        sent: dict[str, int] = {}
        for start in range(0, count, 500):
            calls = []
            for n in range(min(500, count - start)):
                call = QueuedCall(
                    call_id=str(uuid.uuid4()),
                    function="noop",
                    namespace="",
                    callback_url=f"{self.receiver_url}/cb",
                    enqueued_at_ns=time.time_ns(),
                    headers=[("Content-Type", "text/plain")],
                    body=self.body,
                    trace=trace,
                    limits=limits(n) if limits is not None else None,
                )
                sent[call.call_id] = call.enqueued_at_ns
                subject = call_subject(f"{stream}.default", call.call_id)
                calls.append(js.publish(subject, call.body, headers=call.nats_headers(), timeout=10))
            await asyncio.gather(*calls)
        return sent

    async def arrivals(self, http: httpx.AsyncClient, expected: set[str], within: float = 120) -> dict[str, int]:
        seen: dict[str, int] = {}
        deadline = time.monotonic() + within
        while len(seen) < len(expected):
            for call_id, at in (await http.get(f"{self.receiver_url}/arrivals")).json():
                if call_id in seen or call_id not in expected:
                    raise SystemExit(f"unexpected or duplicate callback for {call_id}")
                seen[call_id] = at
            if time.monotonic() > deadline:
                raise SystemExit(f"only {len(seen)} of {len(expected)} callbacks arrived")
            await asyncio.sleep(0.002 if len(expected) == 1 else 0.05)
        return seen

    async def throughput(self, js: Any, http: httpx.AsyncClient, side: str) -> tuple[float, float]:
        """Calls per second from the first callback to the last of a backlog, and the side's CPU per call (us)."""
        sent = await self.publish(js, SIDES[side][0], self.args.calls)
        processes = self.start(side)
        try:
            seen = await self.arrivals(http, set(sent))
            cpu = sum(cpu_seconds(p.pid) for p in processes)
        finally:
            for process in processes:
                stop(process)
        first, last = min(seen.values()), max(seen.values())
        return (len(seen) - 1) / ((last - first) / 1e9), cpu / len(seen) * 1e6

    async def idle_latency(self, js: Any, http: httpx.AsyncClient, side: str) -> tuple[float, float]:
        processes = self.start(side)
        try:
            await self.arrivals(http, set(await self.publish(js, SIDES[side][0], 1)), within=30)  # warm-up
            latencies: list[float] = []
            for _ in range(self.args.idle_calls):
                sent = await self.publish(js, SIDES[side][0], 1)
                seen = await self.arrivals(http, set(sent), within=30)
                latencies.extend((seen[key] - sent[key]) / 1e6 for key in sent)
                await asyncio.sleep(0.005)
        finally:
            for process in processes:
                stop(process)
        quantiles = statistics.quantiles(latencies, n=100)
        return quantiles[49], quantiles[98]

    async def run(self) -> None:
        nc = await nats.connect(self.nats.url)
        js = nc.jetstream()
        for stream, _ in SIDES.values():
            await ensure_stream(js, stream)
        sides = [side for side in SIDES if side in {*self.args.sides.split(","), "reference"}]
        rates: dict[str, list[float]] = {side: [] for side in sides}
        async with httpx.AsyncClient() as http:
            for number in range(1, self.args.rounds + 1):
                for side in sides:
                    rate, cpu = await self.throughput(js, http, side)
                    rates[side].append(rate)
                    print(f"round {number} {side:12s} {rate:7.0f} calls/s  CPU/call {cpu:5.0f} us", flush=True)
            idle = [side for side in ("worker x1", "reference") if side in sides]
            latency = {side: await self.idle_latency(js, http, side) for side in idle}
        await nc.close()
        print(f"\n{self.args.calls} calls x {self.args.rounds} rounds per side, 128 B bodies")
        median = {side: statistics.median(values) for side, values in rates.items()}
        for side, rate in median.items():
            print(f"{side:12s} median {rate:7.0f} calls/s")
        for label, side, base, target in RATIOS:
            if side in median and base in median:
                print(f"ratio {label} ({side} / {base}): {median[side] / median[base]:.2f} (target >= {target})")
        for side, (p50, p99) in latency.items():
            print(f"idle latency {side:9s}: p50 {p50:5.2f} ms  p99 {p99:5.2f} ms ({self.args.idle_calls} calls)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000, help="calls per round and side")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--idle-calls", type=int, default=200, help="calls sent one at a time for the idle latency")
    parser.add_argument(
        "--sides", default=",".join(SIDES), help="comma-separated sides to run (the reference always runs)"
    )
    parser.add_argument("--serve", choices=["function", "receiver", "reference"], help=argparse.SUPPRESS)
    parser.add_argument("--fd", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--nats", help=argparse.SUPPRESS)
    parser.add_argument("--stream", help=argparse.SUPPRESS)
    parser.add_argument("--function", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve == "reference":
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
        asyncio.run(reference(args.nats, args.stream, args.function))
        return
    if args.serve is not None:
        serve(noop_function if args.serve == "function" else CallbackReceiver(), args.fd)
        return
    with (
        tempfile.TemporaryDirectory() as tmp,
        NatsServer.start(Path(tmp) / "nats") as server,
        server_process("function") as function_url,
        server_process("receiver") as receiver_url,
    ):
        (Path(tmp) / "metrics").mkdir()
        asyncio.run(Bench(server, function_url, receiver_url, args, Path(tmp) / "metrics").run())


if __name__ == "__main__":
    main()
