"""Fork-mode watchdog throughput against a raw asyncio subprocess loop doing the same work.

Starts ``python -m watchdog`` with ``fprocess=cat`` on a loopback socket and, in alternating rounds,
sends 1 KB bodies from 8 concurrent keep-alive clients, then runs 8 concurrent ``cat`` spawns
directly (spawn, write 1 KB, read it back). Prints the median rates and their ratio (watchdog / raw).
Run: ``.venv/bin/python bench/watchdog_fork.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BODY = os.urandom(512).hex().encode()  # 1 KB
CONCURRENCY = 8


class Client:
    """A minimal HTTP/1.1 keep-alive client: cheap enough not to be what is measured."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def post(self, body: bytes) -> tuple[int, bytes]:
        head = b"POST / HTTP/1.1\r\nHost: bench\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n"
        self.writer.write(head % len(body) + body)
        status_line, _, headers = (await self.reader.readuntil(b"\r\n\r\n")).partition(b"\r\n")
        length = 0
        for line in headers.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        return int(status_line.split()[1]), await self.reader.readexactly(length)

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def _client_loop(port: int, count: int) -> None:
    client = await Client.connect(port)
    try:
        for _ in range(count):
            status, body = await client.post(BODY)
            if status != 200 or body != BODY:
                raise RuntimeError(f"unexpected answer {status}: {body[:80]!r}")
    finally:
        await client.close()


async def _wait_healthy(port: int, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.write(b"GET /_/health HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        answer = await reader.read()
        writer.close()
        if answer.startswith(b"HTTP/1.1 200"):
            return
        await asyncio.sleep(0.05)
    raise RuntimeError("the watchdog did not become healthy")


def _cpu_of(pid: int) -> float:
    """CPU seconds of ``pid`` and its reaped children (Linux: /proc/<pid>/stat utime..cstime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


@dataclass
class Side:
    """One side's measurements: calls per second per round, and CPU seconds spent over all rounds."""

    rates: list[float] = field(default_factory=list)
    cpu: float = 0.0
    calls: int = 0

    def cpu_per_call(self) -> float:
        return self.cpu / self.calls


@contextlib.asynccontextmanager
async def running_watchdog() -> AsyncIterator[tuple[int, int]]:
    """A fork-mode watchdog serving ``cat`` on a loopback port the kernel chose; yields its port and pid."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    env = {**os.environ, "fprocess": "cat", "suppress_lock": "true", "listen_fd": str(sock.fileno())}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "watchdog", env=env, pass_fds=[sock.fileno()], cwd=ROOT, stderr=subprocess.DEVNULL
    )
    sock.close()
    try:
        await _wait_healthy(port)
        yield port, process.pid
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 30)


async def bench_watchdog(port: int, requests: int) -> float:
    """Calls per second through the watchdog."""
    started = time.perf_counter()
    await asyncio.gather(*(_client_loop(port, requests // CONCURRENCY) for _ in range(CONCURRENCY)))
    return requests / (time.perf_counter() - started)


async def _raw_loop(count: int) -> None:
    for _ in range(count):
        process = await asyncio.create_subprocess_exec(
            "cat", stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        output, _ = await process.communicate(BODY)
        if output != BODY:
            raise RuntimeError("cat did not echo its input")


async def bench_raw(requests: int) -> float:
    """Spawns per second of a bare asyncio loop: spawn cat, write 1 KB, read it back."""
    started = time.perf_counter()
    await asyncio.gather(*(_raw_loop(requests // CONCURRENCY) for _ in range(CONCURRENCY)))
    return requests / (time.perf_counter() - started)


async def compare(rounds: int, requests: int) -> tuple[Side, Side]:
    """Both sides, measured in alternating rounds so background load hits both alike."""
    watchdog, raw = Side(), Side()
    async with running_watchdog() as (port, pid):
        await bench_watchdog(port, CONCURRENCY * 20)  # warm up both
        await bench_raw(CONCURRENCY * 20)
        for _ in range(rounds):
            before = _own_cpu() + _cpu_of(pid)  # client, watchdog and the cats it reaped
            watchdog.rates.append(await bench_watchdog(port, requests))
            watchdog.cpu += _own_cpu() + _cpu_of(pid) - before
            before = _own_cpu()  # the loop and its cats
            raw.rates.append(await bench_raw(requests))
            raw.cpu += _own_cpu() - before
            watchdog.calls += requests
            raw.calls += requests
    return watchdog, raw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per side (default 5)")
    parser.add_argument("--requests", type=int, default=800, help="calls per side and round (default 800)")
    args = parser.parse_args()
    watchdog, raw = asyncio.run(compare(args.rounds, args.requests))
    ratios = sorted(w / r for w, r in zip(watchdog.rates, raw.rates, strict=True))
    print(f"{args.rounds} rounds x {args.requests} calls, 1 KB bodies, {CONCURRENCY} concurrent, {os.cpu_count()} CPUs")
    print(f"watchdog (fork mode, fprocess=cat): {statistics.median(watchdog.rates):7.1f} calls/s (median)", end="")
    print(f", {watchdog.cpu_per_call() * 1e6:5.0f} us CPU per call (client + watchdog + cat)")
    print(f"raw asyncio subprocess loop:        {statistics.median(raw.rates):7.1f} spawns/s (median)", end="")
    print(f", {raw.cpu_per_call() * 1e6:5.0f} us CPU per spawn (loop + cat)")
    spread = f"rounds {ratios[0]:.2f}-{ratios[-1]:.2f}"
    print(f"ratio watchdog/raw:                 {statistics.median(ratios):7.2f} (median; {spread})")
    print(f"CPU per call raw/watchdog:          {raw.cpu_per_call() / watchdog.cpu_per_call():7.2f}")


if __name__ == "__main__":
    main()
