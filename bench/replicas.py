"""What namespaces cost a local replica: its start, and each call, with ``replica_isolation`` off and on.

Runs the local provider in this process twice, with ``replica_isolation=off`` and
``=namespaces``, alternating rounds. Each round deploys a forked function (``cat``) with
``--replicas`` replicas and an http-mode one (a stdlib HTTP server on the fixed port 5000,
in a network of its own with namespaces) with one (without namespaces a second could not
bind the port), times each replica from the deploy to its first passing health check, then
sends ``--calls`` calls one at a time straight to a replica's watchdog and times them::

    .venv/bin/python bench/replicas.py                  # 8 replicas, 400 calls, 3 rounds
    .venv/bin/python bench/replicas.py --replicas 16 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Literal

import httpx

from provider.config import ProviderSettings
from provider.local import LocalProvider
from provider.types import FunctionDeployment

SERVER = """
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else its header and body writes meet the client's delayed ACK: 40 ms a call

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

HTTPServer(("127.0.0.1", 5000), Echo).serve_forever()
"""
NAMESPACE = "openfaas-fn"
Isolation = Literal["off", "namespaces"]


def functions(folder: Path, replicas: int) -> list[tuple[FunctionDeployment, int]]:
    server = folder / "server.py"
    server.write_text(SERVER)
    labels = {"com.openfaas.scale.min": str(replicas), "com.openfaas.scale.max": str(replicas)}
    http = {"mode": "http", "upstream_url": "http://127.0.0.1:5000"}
    command = f"{sys.executable} {server}"
    return [
        (FunctionDeployment(service="forked", namespace=NAMESPACE, env_process="cat", labels=labels), replicas),
        (FunctionDeployment(service="http", namespace=NAMESPACE, env_process=command, env_vars=http), 1),
    ]


async def ready_times(provider: LocalProvider, name: str, replicas: int, deployed: float) -> list[float]:
    """Seconds from the deploy to each replica's first passing health check (polled every 5 ms)."""
    seen: dict[str, float] = {}
    async with asyncio.timeout(60):
        while len(seen) < replicas:
            for instance in provider.instances(name, NAMESPACE):
                if instance.available and instance.id not in seen:
                    seen[instance.id] = time.perf_counter() - deployed
            await asyncio.sleep(0.005)
    return list(seen.values())


async def call_times(url: str, calls: int) -> list[float]:
    times = []
    async with httpx.AsyncClient() as client:
        for _ in range(calls):
            started = time.perf_counter()
            response = await client.post(url + "/", content=b"x" * 128)
            assert response.status_code == 200, response.text
            times.append(time.perf_counter() - started)
    return times


async def one_round(isolation: Isolation, replicas: int, calls: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as folder:
        settings = ProviderSettings(
            state_dir=Path(folder) / "state", replica_isolation=isolation, ready_timeout=timedelta(seconds=30)
        )
        provider = LocalProvider(settings)
        await provider.startup()
        try:
            figures: dict[str, list[float]] = {}
            for deployment, count in functions(Path(folder), replicas):
                deployed = time.perf_counter()
                await provider.deploy(deployment)
                figures[f"{deployment.service} start"] = await ready_times(
                    provider, deployment.service, count, deployed
                )
                url = await provider.resolve(deployment.service, NAMESPACE)
                figures[f"{deployment.service} call"] = await call_times(url, calls)
            return figures
        finally:
            await provider.shutdown()


def _ms(values: list[float], q: float) -> str:
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000:7.2f}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replicas", type=int, default=8)
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sides: tuple[Isolation, ...] = ("off", "namespaces")
    totals: dict[str, dict[str, list[float]]] = {side: {} for side in sides}
    for number in range(1, args.rounds + 1):
        for isolation in sides:
            figures = await one_round(isolation, args.replicas, args.calls)
            for key, values in figures.items():
                totals[isolation].setdefault(key, []).extend(values)
            medians = "  ".join(f"{key} p50 {_ms(values, 0.5)} ms" for key, values in figures.items())
            print(f"round {number} {isolation:<10} {medians}")
    print(f"\n{args.replicas} replicas a function, {args.calls} calls, {args.rounds} rounds (p50 / p99, ms)")
    for key in totals["off"]:
        off, on = totals["off"][key], totals["namespaces"][key]
        extra = (statistics.median(on) - statistics.median(off)) * 1000
        print(
            f"{key:<13} off {_ms(off, 0.5)} / {_ms(off, 0.99)}   namespaces {_ms(on, 0.5)} / {_ms(on, 0.99)}"
            f"   median {extra:+.2f} ms"
        )


if __name__ == "__main__":
    asyncio.run(main())
