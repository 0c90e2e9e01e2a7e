"""``/async-function`` throughput and latency of the gateway against a minimal Starlette + nats-py app.

Starts a private nats-server, ``faasq-provider`` with an ``echo`` function, ``faasq-gateway``
and the reference app (below: a Starlette route that publishes the body to the same stream and
waits for the JetStream ack) twice, on asyncio's loop (``reference``) and on uvloop, the
gateway's (``ref-uv``), each on a loopback socket, all under the same uvicorn settings. In
alternating rounds it sends the same POST (128-byte body, ``X-Callback-Url``) from 64
keep-alive connections, a bounded number of requests per round, the stream purged between
rounds. Prints each round's rate and p50/p99 latency, the medians, and their ratio
(gateway / reference). Run: ``.venv/bin/python bench/enqueue.py``.

With ``--every-core`` it runs ``faasq up`` instead (its default: one gateway process per usable
core, at most 4; no workers, so calls stay queued), and loads in turn its port, one more gateway
process on the same NATS and provider, and the one-process reference on uvloop; CPU per call
adds up every gateway process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
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
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import nats
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from faasq.natsserver import NatsServer

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
STREAM = "bench"


def reference_app(nats_url: str, subject: str) -> Starlette:
    """The reference: publish the body, wait for the ack, answer 202 with a call id."""
    state = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        nc = await nats.connect(nats_url)
        state["js"] = nc.jetstream()
        yield
        await nc.close()

    async def enqueue(request: Request) -> Response:
        body = await request.body()
        call_id = str(uuid.uuid4())
        await state["js"].publish(subject, body, timeout=5, headers={"Nats-Msg-Id": call_id})
        return Response(status_code=202, headers={"X-Call-Id": call_id})

    return Starlette(routes=[Route("/async-function/{name}", enqueue, methods=["POST"])], lifespan=lifespan)


def serve_reference(fd: int, nats_url: str, freeze: bool, loop: str, stream: str) -> None:
    """Serve the reference app on an inherited socket, with the gateway's uvicorn settings, on ``loop``."""
    app = reference_app(nats_url, f"{stream}.default")
    config = uvicorn.Config(app, access_log=False, log_config=None, loop=loop, http="httptools", lifespan="on")
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    if freeze:
        gc.freeze()
    uvicorn.Server(config).run(sockets=[socket.socket(fileno=fd)])


@dataclass
class Result:
    rate: float
    p50_ms: float
    p99_ms: float
    failures: int
    server_us: float = 0.0
    nats_us: float = 0.0
    mean_ms: float = 0.0
    max_ms: float = 0.0


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Connection(asyncio.Protocol):
    """One keep-alive connection sending the same request until the shared budget is spent."""

    def __init__(self, request: bytes, budget: list[int], latencies: list[float], done: asyncio.Future[None]) -> None:
        self.request = request
        self.budget = budget
        self.latencies = latencies
        self.done = done
        self.buffer = b""
        self.sent = 0.0
        self.failures = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._next()

    def _next(self) -> None:
        if self.budget[0] <= 0:
            if not self.done.done():
                self.done.set_result(None)
            return
        self.budget[0] -= 1
        self.sent = time.perf_counter()
        assert self.transport is not None
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buffer[:end].lower()
        at = head.find(b"content-length:")
        length = int(head[at + 15 : head.find(b"\r\n", at) if head.find(b"\r\n", at) > 0 else None]) if at >= 0 else 0
        if len(self.buffer) < end + 4 + length:
            return
        self.latencies.append(time.perf_counter() - self.sent)
        if self.buffer[9:12] != b"202":
            self.failures += 1
        self.buffer = self.buffer[end + 4 + length :]
        self._next()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(ConnectionError(f"connection lost: {exc}"))


TRACEPARENT = b"traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n"


async def load(
    port: int,
    requests: int,
    concurrency: int,
    body: bytes,
    extra: bytes = b"",
    callback: bytes = b"http://127.0.0.1:9/callback",
) -> Result:
    """Send ``requests`` POSTs over ``concurrency`` keep-alive connections; measure rate and latency."""
    request = (
        b"POST /async-function/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n%s"
        b"X-Callback-Url: %s\r\nContent-Length: %d\r\n\r\n%s" % (extra, callback, len(body), body)
    )
    loop = asyncio.get_running_loop()
    budget, latencies = [requests], list[float]()
    connections = []
    for _ in range(concurrency):
        done: asyncio.Future[None] = loop.create_future()
        factory = lambda done=done: _Connection(request, budget, latencies, done)  # noqa: E731
        connections.append((done, factory))
    started = time.perf_counter()
    opened = [await loop.create_connection(factory, "127.0.0.1", port) for _, factory in connections]
    await asyncio.gather(*(done for done, _ in connections))
    elapsed = time.perf_counter() - started
    failures = sum(protocol.failures for _, protocol in opened)
    for transport, _ in opened:
        transport.close()
    quantiles = statistics.quantiles(latencies, n=100)
    result = Result(len(latencies) / elapsed, quantiles[49] * 1000, quantiles[98] * 1000, failures)
    result.mean_ms, result.max_ms = statistics.fmean(latencies) * 1000, max(latencies) * 1000
    return result


@contextlib.contextmanager
def process_on_socket(argv: list[str], env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(1024)
        full_env = os.environ | env | {"listen_fd": str(sock.fileno())}
        argv = [part.replace("{fd}", str(sock.fileno())) for part in argv]
        process = subprocess.Popen(argv, env=full_env, cwd=ROOT, pass_fds=[sock.fileno()])
        port = sock.getsockname()[1]
    try:
        yield process, port
    finally:
        stop_process(process, signal.SIGTERM, within=20)


def stop_process(process: subprocess.Popen[bytes], signum: int, within: float) -> None:
    """Send ``signum``, wait up to ``within`` seconds, then kill."""
    process.send_signal(signum)
    try:
        process.wait(within)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_until(check: Callable[[], object], what: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            if check():
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} within {within:g}s")
        time.sleep(0.05)


def _accepts(client: httpx.Client, url: str) -> bool:
    return client.post(url, content=b"x").status_code == 202


def _answers(client: httpx.Client, url: str) -> bool:
    return client.get(url).status_code == 200


def deploy_echo(provider: int) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{provider}", timeout=30) as client:
        wait_until(lambda: client.get("/healthz").status_code == 200, "the provider was not healthy")
        body = {"service": "echo", "image": "local", "envProcess": "cat"}
        assert client.post("/system/functions", json=body).status_code == 202
        wait_until(lambda: client.get("/system/function/echo").json().get("availableReplicas"), "echo not ready")


async def purge(nats_url: str, streams: tuple[str, ...]) -> None:
    nc = await nats.connect(nats_url)
    for stream in streams:
        await nc.jetstream().purge_stream(stream)
    await nc.close()


@dataclass(frozen=True)
class Target:
    """One server loaded in each round, and what its requests carry besides the common headers."""

    port: int
    pids: tuple[int, ...]
    extra: bytes = b""


async def measure(
    targets: dict[str, Target], nats: tuple[str, int], args: argparse.Namespace
) -> dict[str, list[Result]]:
    nats_url, nats_pid = nats
    body = os.urandom(args.body_bytes // 2).hex().encode()
    results: dict[str, list[Result]] = {name: [] for name in targets}
    for target in targets.values():  # warm-up: connections, caches, first calls
        await load(target.port, 2000, args.concurrency, body, target.extra)
    for round_number in range(1, args.rounds + 1):
        for name, target in targets.items():
            await purge(nats_url, args.streams)
            before = sum(map(cpu_seconds, target.pids)), cpu_seconds(nats_pid)
            result = await load(target.port, args.requests, args.concurrency, body, target.extra)
            result.server_us = (sum(map(cpu_seconds, target.pids)) - before[0]) / args.requests * 1e6
            result.nats_us = (cpu_seconds(nats_pid) - before[1]) / args.requests * 1e6
            results[name].append(result)
            print(
                f"round {round_number} {name:10s} {result.rate:8.0f} calls/s  p50 {result.p50_ms:6.2f} ms"
                f"  p99 {result.p99_ms:6.2f} ms  non-202: {result.failures}"
                f"  CPU/call: server {result.server_us:4.0f} us, nats-server {result.nats_us:4.0f} us",
                flush=True,
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000, help="requests per round and server")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--body-bytes", type=int, default=128)
    parser.add_argument(
        "--every-core",
        action="store_true",
        help="compare `faasq up`'s default gateway (one process per core) with one gateway process and the "
        "one-process reference on uvloop",
    )
    parser.add_argument(
        "--freeze-reference", action="store_true", help="gc.freeze() the reference too, as faasq-gateway does"
    )
    parser.add_argument("--serve-reference", type=int, metavar="FD", help=argparse.SUPPRESS)
    parser.add_argument("--nats", help=argparse.SUPPRESS)
    parser.add_argument("--stream", default=STREAM, help=argparse.SUPPRESS)
    parser.add_argument("--loop", default="asyncio", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_reference is not None:
        serve_reference(args.serve_reference, args.nats, args.freeze_reference, args.loop, args.stream)
        return
    with tempfile.TemporaryDirectory() as tmp:
        if args.every_core:
            args.streams = (UP_STREAM,)
            results = every_core(Path(tmp), args)
        else:
            args.streams = (STREAM,)
            results = one_process(Path(tmp), args)
    report(results, args)


def _reference_argv(nats_url: str, args: argparse.Namespace, stream: str) -> list[str]:
    argv = [sys.executable, __file__, "--serve-reference", "{fd}", "--nats", nats_url, "--stream", stream]
    return argv + (["--freeze-reference"] if args.freeze_reference else [])


def _wait_accepting(*ports: int) -> None:
    with httpx.Client() as client:
        for port in ports:
            url = f"http://127.0.0.1:{port}/async-function/echo"
            wait_until(partial(_accepts, client, url), f"port {port} did not answer 202")


def one_process(tmp: Path, args: argparse.Namespace) -> dict[str, list[Result]]:
    """The gateway with metrics, without, and traced, against the reference on both loops: one process each."""
    with NatsServer.start(tmp / "nats") as server:
        env = {"state_dir": str(tmp / "provider"), "ready_timeout": "20s"}
        with process_on_socket([str(BIN / "faasq-provider")], env) as (_, provider):
            deploy_echo(provider)
            gateway_env = {
                "functions_provider_url": f"http://127.0.0.1:{provider}",
                "faas_nats_port": str(server.port),
                "faas_nats_channel": STREAM,
            }
            # As under `faasq up`: every process's series in one folder.
            counting = gateway_env | {"PROMETHEUS_MULTIPROC_DIR": str(tmp / "metrics")}
            (tmp / "metrics").mkdir()
            argv = _reference_argv(server.url, args, STREAM)
            with (
                process_on_socket([str(BIN / "faasq-gateway")], counting) as (gateway_process, gateway),
                process_on_socket([str(BIN / "faasq-gateway")], gateway_env | {"metrics": "false"}) as (bare, plain),
                process_on_socket(argv, {}) as (reference_process, reference),
                process_on_socket([*argv, "--loop", "uvloop"], {}) as (uv_process, uv_reference),
            ):
                _wait_accepting(gateway, plain, reference, uv_reference)
                targets = {
                    "bare": Target(plain, (bare.pid,)),
                    "gateway": Target(gateway, (gateway_process.pid,)),
                    "traced": Target(gateway, (gateway_process.pid,), TRACEPARENT),
                    "reference": Target(reference, (reference_process.pid,)),
                    "ref-uv": Target(uv_reference, (uv_process.pid,)),
                }
                return asyncio.run(measure(targets, (server.url, server.process.pid), args))


UP_STREAM = "faas-request"
"""The stream `faasq up`'s gateway stores calls on."""


@contextlib.contextmanager
def faasq_up(tmp: Path, *options: str) -> Iterator[dict[str, Any]]:
    """``faasq up`` with its defaults but no workers (calls stay queued), an ``echo`` function, on a free port."""
    (tmp / "stack.yml").write_text("provider: {name: openfaas}\nfunctions:\n  echo: {fprocess: cat}\n")
    ready = tmp / "ready.json"
    argv = [str(BIN / "faasq"), "up", "-f", str(tmp / "stack.yml"), "--port", "0", "--workers", "0"]
    argv += ["--state-dir", str(tmp / "up"), "--ready-file", str(ready), *options]
    with (tmp / "up.log").open("wb") as log:
        process = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(ready.exists, f"faasq up was not ready (see {tmp / 'up.log'})", within=90)
        yield json.loads(ready.read_text())
    finally:
        stop_process(process, signal.SIGINT, within=60)


def every_core(tmp: Path, args: argparse.Namespace) -> dict[str, list[Result]]:
    """`faasq up`'s default gateway (every core) and one gateway process, against the one-process reference."""
    with faasq_up(tmp) as up:
        nats_url = up["nats"]
        gateways = tuple(pid for name, pid in up["pids"].items() if name.startswith("gateway-"))
        print(f"faasq up: {len(gateways)} gateway processes at {up['gateway']}", flush=True)
        env = {
            "functions_provider_url": up["provider"],
            "faas_nats_address": nats_url.rsplit(":", 1)[0].removeprefix("nats://"),
            "faas_nats_port": nats_url.rsplit(":", 1)[1],
            "PROMETHEUS_MULTIPROC_DIR": str(Path(up["state_dir"]).resolve() / "metrics"),
        }
        argv = _reference_argv(nats_url, args, UP_STREAM)
        with (
            process_on_socket([str(BIN / "faasq-gateway")], env) as (gateway_process, gateway),
            process_on_socket([*argv, "--loop", "uvloop"], {}) as (uv_process, uv_reference),
        ):
            every = int(up["gateway"].rsplit(":", 1)[1])
            _wait_accepting(every, gateway, uv_reference)
            targets = {
                "every-core": Target(every, gateways),
                "gateway": Target(gateway, (gateway_process.pid,)),
                "ref-uv": Target(uv_reference, (uv_process.pid,)),
            }
            return asyncio.run(measure(targets, (nats_url, up["pids"]["nats"]), args))


def report(results: dict[str, list[Result]], args: argparse.Namespace) -> None:
    rates = {name: statistics.median(r.rate for r in rounds) for name, rounds in results.items()}
    print(
        f"\n{args.requests} requests x {args.rounds} rounds, {args.concurrency} connections, {args.body_bytes} B bodies"
    )
    for name, rounds in results.items():
        p50 = statistics.median(r.p50_ms for r in rounds)
        p99 = statistics.median(r.p99_ms for r in rounds)
        cpu = statistics.median(r.server_us for r in rounds)
        nats_cpu = statistics.median(r.nats_us for r in rounds)
        print(
            f"{name:10s} median {rates[name]:8.0f} calls/s  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms"
            f"  CPU/call: server {cpu:4.0f} us, nats-server {nats_cpu:4.0f} us"
        )
    print(f"ratio gateway / reference on uvloop (ref-uv): {rates['gateway'] / rates['ref-uv']:.2f} (target >= 1.0)")
    if args.every_core:
        print(f"ratio every core / ref-uv: {rates['every-core'] / rates['ref-uv']:.2f} (target >= 1.3)")
        print(f"ratio every core / one gateway process: {rates['every-core'] / rates['gateway']:.2f}")
        return
    print(f"ratio gateway / reference on asyncio's loop: {rates['gateway'] / rates['reference']:.2f}")
    print(f"ratio metrics on / off (gateway / bare): {rates['gateway'] / rates['bare']:.2f} (target >= 0.95)")
    print(f"ratio traceparent on every call / none (traced / gateway): {rates['traced'] / rates['gateway']:.2f}")
    print(f"ratio metrics and traces / neither (traced / bare): {rates['traced'] / rates['bare']:.2f} (target >= 0.9)")


if __name__ == "__main__":
    main()
