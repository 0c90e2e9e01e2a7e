"""A backlog of a million calls: how enqueue, memory and storage behave as it fills, and how fast it drains.

Starts ``faasq up`` with its defaults but no workers, and an ``echo`` function, then sends
``--calls`` async calls (``--body-bytes`` each, 64 keep-alive connections) in steps of
``--step``, nothing draining them. After each step it records the enqueue rate and the mean, p99
and largest latency of that step, the resident memory of the gateway processes and of
nats-server, and the stream's size: bytes stored per queued call. Then it starts ``--workers``
``faasq-worker`` processes that run each call against a no-op function and call back a
receiver (``bench/worker.py``'s, so neither forking nor the function is measured), and samples
every few seconds until the queue is empty: calls drained per second, the workers' and
nats-server's memory, and the size of the call status bucket.

Run: ``.venv/bin/python -m bench.backlog`` (``--calls 100000`` for a quick look).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
from nats.js import JetStreamContext
from nats.js.api import ConsumerInfo
from nats.js.errors import NotFoundError

from bench.enqueue import ROOT, faasq_up, load
from bench.worker import server_process, stop
from calls.status_store import DEFAULT_BUCKET
from calls.wire import DEFAULT_STREAM

CONSUMER = "faas-default"


def rss_mib(*pids: int) -> float:
    """The resident memory of the largest of ``pids``, in MiB."""
    sizes = []
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                sizes.append(int(line.split()[1]) / 1024)
    return max(sizes, default=0.0)


async def stream_state(js: JetStreamContext, stream: str) -> tuple[int, int]:
    """Messages and bytes a stream holds."""
    state = (await js.stream_info(stream)).state
    return state.messages, state.bytes


async def fill(up: dict[str, Any], args: argparse.Namespace, callback: bytes) -> None:
    gateways = [pid for name, pid in up["pids"].items() if name.startswith("gateway-")]
    port = int(up["gateway"].rsplit(":", 1)[1])
    body = b"x" * args.body_bytes
    nc = await nats.connect(up["nats"])
    js = nc.jetstream()
    print("queued     calls/s  mean ms  p99 ms   max ms  gateway MiB  nats MiB  stored B/call", flush=True)
    try:
        sent = 0
        while sent < args.calls:
            step = min(args.step, args.calls - sent)
            result = await load(port, step, 64, body, callback=callback)
            sent += step
            messages, stored = await stream_state(js, DEFAULT_STREAM)
            print(
                f"{messages:>9,} {result.rate:8.0f} {result.mean_ms:8.2f} {result.p99_ms:7.2f} {result.max_ms:8.1f}"
                f" {rss_mib(*gateways):12.1f} {rss_mib(up['pids']['nats']):9.1f} {stored / max(messages, 1):14.0f}"
                f"{f'  non-202: {result.failures}' if result.failures else ''}",
                flush=True,
            )
    finally:
        await nc.close()


@contextlib.contextmanager
def workers(up: dict[str, Any], count: int, function: str) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` workers of the default queue running calls against ``function``."""
    nats_url = up["nats"]
    env = {
        **os.environ,
        "faas_nats_address": nats_url.rsplit(":", 1)[0].removeprefix("nats://"),
        "faas_nats_port": nats_url.rsplit(":", 1)[1],
        "gateway_invoke": "false",
        "functions_provider_url": function,
    }
    started = [
        subprocess.Popen([sys.executable, "-m", "queue_worker.main", "--queue", "default"], env=env, cwd=ROOT)
        for _ in range(count)
    ]
    try:
        yield started
    finally:
        for process in started:
            stop(process)


async def _left(js: JetStreamContext, within: float = 60.0) -> int:
    """Calls the queue's consumer has not settled, once the workers created it."""
    deadline = time.monotonic() + within
    while True:
        try:
            info: ConsumerInfo = await js.consumer_info(DEFAULT_STREAM, CONSUMER)
        except NotFoundError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)
        else:
            return (info.num_pending or 0) + (info.num_ack_pending or 0)


async def drain(up: dict[str, Any], processes: list[subprocess.Popen[bytes]], every: float) -> None:
    nc = await nats.connect(up["nats"])
    js = nc.jetstream()
    print("\nleft      calls/s  workers MiB  nats MiB  status bucket MiB", flush=True)
    try:
        left, began, last = await _left(js), time.monotonic(), time.monotonic()
        total = left
        while left:
            await asyncio.sleep(every)
            now_left = await _left(js)
            now = time.monotonic()
            _, status_bytes = await stream_state(js, f"KV_{DEFAULT_BUCKET}")
            workers_mib = rss_mib(*(process.pid for process in processes))
            print(
                f"{now_left:>9,} {(left - now_left) / (now - last):8.0f} {workers_mib:12.1f}"
                f" {rss_mib(up['pids']['nats']):9.1f} {status_bytes / 2**20:18.1f}",
                flush=True,
            )
            left, last = now_left, now
        took = time.monotonic() - began
        print(f"\ndrained {total:,} calls in {took:.0f}s: {total / took:.0f}/s")
    finally:
        await nc.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--step", type=int, default=50_000)
    parser.add_argument("--body-bytes", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--every", type=float, default=5.0, help="seconds between two samples of the drain")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        server_process("function") as function,
        server_process("receiver") as receiver,
        faasq_up(Path(tmp)) as up,
    ):
        print(f"faasq up: {sum(name.startswith('gateway-') for name in up['pids'])} gateway processes", flush=True)
        asyncio.run(fill(up, args, f"{receiver}/callback".encode()))
        with workers(up, args.workers, function) as processes:
            asyncio.run(drain(up, processes, args.every))


if __name__ == "__main__":
    main()
