"""Batch submission against the same calls one by one: items accepted per second, and completed per second.

Starts a private nats-server, ``faasq-provider`` with an ``echo`` function (the gateway looks
functions up there), ``faasq-gateway`` and one ``faasq-worker`` that invokes a no-op function
(``bench/worker.py``'s, answering with the request's body) instead of the provider, so
neither the function nor forking is what is measured. In each round, with the worker idle
and the stream empty, the same N items (``{"n": i}``) are submitted three ways:

- ``one by one``: N sequential ``POST /async-function/echo`` on one keep-alive connection;
- ``64 at once``: the same from 64 concurrent connections;
- ``batch``: one ``POST /async-batches/echo`` with the N items as a JSON array.

"accepted" is N over the time to the last 202; "completed" is N over the time from the first
request to the last item finished (the stream empty, or the batch record finished), the
worker running all along. Then, right after a batch's 202, one more call is sent to the same
function and its time to completion is reported: what a batch costs another caller of the
function (its queue is first in, first out). Run: ``.venv/bin/python -m bench.batch``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import aiohttp
import httpx
import nats

from bench.enqueue import deploy_echo, process_on_socket, wait_until
from bench.worker import server_process, stop
from faasq.natsserver import NatsServer

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
STREAM = "bench-batch"
SIDES = ("one by one", "64 at once", "batch")


@contextlib.contextmanager
def worker(nats_server: NatsServer, function_url: str, log: Path) -> Iterator[None]:
    """A ``faasq-worker`` on the default queue, invoking the no-op function; returns once it pulls."""
    env = {
        "faas_nats_port": str(nats_server.port),
        "faas_nats_channel": STREAM,
        "gateway_invoke": "false",
        "functions_provider_url": function_url,
        "max_inflight": "64",
        "fetch_batch": "64",
    }
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [str(BIN / "faasq-worker")], env={**os.environ, **env}, cwd=ROOT, stderr=stderr, stdin=subprocess.DEVNULL
        )
    try:
        wait_until(lambda: " pulling " in log.read_text(errors="replace"), "the worker did not pull")
        yield
    finally:
        stop(process)


async def until(check: Callable[[], Awaitable[bool]], within: float = 300.0) -> float:
    """Poll ``check`` until true; the ``time.monotonic()`` it was first seen true."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise SystemExit(f"not done within {within:g}s")
        await asyncio.sleep(0.01)
    return time.monotonic()


class Bench:
    def __init__(self, gateway: str, nats_url: str, items: int, gateway_pid: int = 0) -> None:
        self.gateway = gateway
        self.gateway_pid = gateway_pid
        self.nats_url = nats_url
        self.items = [json.dumps({"n": n}).encode() for n in range(items)]

    async def stream_empty(self) -> bool:
        nc = await nats.connect(self.nats_url)
        try:
            return (await nc.jetstream().stream_info(STREAM)).state.messages == 0
        finally:
            await nc.close()

    async def singles(self, http: aiohttp.ClientSession, at_once: int) -> tuple[float, float]:
        started = time.monotonic()
        limit = asyncio.Semaphore(at_once)

        async def one(body: bytes) -> None:
            async with limit, http.post(f"{self.gateway}/async-function/echo", data=body) as response:
                assert response.status == 202, await response.text()

        if at_once == 1:
            for body in self.items:
                await one(body)
        else:
            await asyncio.gather(*(one(body) for body in self.items))
        accepted = time.monotonic()
        done = await until(self.stream_empty)
        return accepted - started, done - started

    async def batch(self, http: aiohttp.ClientSession) -> tuple[float, float, float]:
        started = time.monotonic()
        body = b"[" + b",".join(self.items) + b"]"
        headers = {"Content-Type": "application/json"}
        async with http.post(f"{self.gateway}/async-batches/echo", data=body, headers=headers) as response:
            assert response.status == 202, await response.text()
            batch_id = (await response.json())["batch_id"]
        accepted = time.monotonic()
        async with http.post(f"{self.gateway}/async-function/echo", data=b"{}") as response:
            lone = response.headers["X-Call-Id"]
        lone_sent = time.monotonic()

        async def lone_done() -> bool:
            async with http.get(f"{self.gateway}/async-calls/{lone}") as reply:
                return reply.status == 200 and (await reply.json())["state"] == "succeeded"

        async def batch_done() -> bool:
            async with http.get(f"{self.gateway}/async-batches/{batch_id}") as reply:
                return "finished_at" in await reply.json()

        lone_at = await until(lone_done)
        done = await until(batch_done)
        return accepted - started, done - started, lone_at - lone_sent

    async def run(self, rounds: int) -> dict[str, list[tuple[float, float]]]:
        results: dict[str, list[tuple[float, float]]] = {side: [] for side in SIDES}
        lone: list[float] = []
        n = len(self.items)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as http:
            await self.singles(http, 64)  # warm-up
            for number in range(1, rounds + 1):
                for side in SIDES:
                    if side == "batch":
                        accept, complete, waited = await self.batch(http)
                        lone.append(waited)
                    else:
                        accept, complete = await self.singles(http, 1 if side == "one by one" else 64)
                    results[side].append((n / accept, n / complete))
                    print(
                        f"round {number} {side:10s} accepted {n / accept:8.0f} items/s   completed {n / complete:6.0f}"
                        f" items/s"
                        + (f"   a call sent after the batch done in {lone[-1]:.2f}s" if side == "batch" else "")
                        + (f"   gateway peak RSS {peak_rss_mib(self.gateway_pid):.0f} MiB" if side == "batch" else ""),
                        flush=True,
                    )
        median = statistics.median(lone)
        print(f"\na call sent right after a batch of {n}: done in {median:.2f}s (median)")
        return results


def peak_rss_mib(pid: int) -> float:
    """The most memory the process has held so far (``VmHWM``), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def report(results: dict[str, list[tuple[float, float]]], items: int, rounds: int) -> None:
    print(f"\n{items} items x {rounds} rounds, medians")
    accepted = {side: statistics.median(r[0] for r in rows) for side, rows in results.items()}
    for side, rows in results.items():
        completed = statistics.median(r[1] for r in rows)
        print(f"{side:10s} accepted {accepted[side]:8.0f} items/s   completed {completed:6.0f} items/s")
    print(f"batch / one by one accepted: {accepted['batch'] / accepted['one by one']:.1f}x (target >= 5x)")
    print(f"batch / 64 at once accepted: {accepted['batch'] / accepted['64 at once']:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--enqueue-rate", type=float, default=0, help="the gateway's batch_enqueue_rate (0: none)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, NatsServer.start(Path(tmp) / "nats") as server:
        env = {"state_dir": str(Path(tmp) / "provider"), "ready_timeout": "20s"}
        with process_on_socket([str(BIN / "faasq-provider")], env) as (_, provider), server_process("function") as fn:
            deploy_echo(provider)
            gateway_env = {
                "functions_provider_url": f"http://127.0.0.1:{provider}",
                "faas_nats_port": str(server.port),
                "faas_nats_channel": STREAM,
                "batch_enqueue_rate": str(args.enqueue_rate),
            }
            with process_on_socket([str(BIN / "faasq-gateway")], gateway_env) as (gateway_process, gateway):
                url = f"http://127.0.0.1:{gateway}"
                with httpx.Client() as client:
                    wait_until(lambda: client.get(f"{url}/healthz").status_code == 200, "gateway")
                with worker(server, fn, Path(tmp) / "worker.log"):
                    bench = Bench(url, server.url, args.items, gateway_process.pid)
                    results = asyncio.run(bench.run(args.rounds))
    report(results, args.items, args.rounds)


if __name__ == "__main__":
    main()
