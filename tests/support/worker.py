"""The queue worker in process, and what its tests share: the provider's functions, a callback receiver, calls.

The provider's functions are ``cat`` (echoes the body), ``env`` (prints the request as the
function sees it) and ``slow`` (sleeps ``X-Sleep`` seconds, then echoes). A worker runs on the
test's own stream, invoking the provider directly (``gateway_invoke=false``).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from nats.js import JetStreamContext
from starlette.types import ASGIApp, Receive, Scope, Send

from calls.wire import QueuedCall, call_subject, queue_subject
from faasq.natsserver import NatsServer
from queue_worker.config import WorkerSettings
from queue_worker.consumer import Summary
from queue_worker.hooks import WorkerHooks
from queue_worker.main import run
from tests.support.asgi import request_body
from tests.support.polling import eventually
from tests.support.sockets import bound_socket

PRINT_REQUEST = (
    "import os, sys; body = sys.stdin.read(); "
    'print("\\n".join(f"{k}={v}" for k, v in sorted(os.environ.items()) if k.startswith("Http_"))); '
    'print("body=" + body)'
)
FUNCTIONS = {
    "cat": "cat",
    "env": f"{sys.executable} -c '{PRINT_REQUEST}'",
    "slow": "sh -c 'sleep ${Http_X_Sleep:-0}; cat'",
}
"""The provider's functions in the worker's tests: name → fprocess."""


async def invocations(provider_url: str, name: str) -> int:
    """How often the provider has run ``name``."""
    async with httpx.AsyncClient(base_url=provider_url) as client:
        listed = (await client.get("/system/functions")).json()
    return int(next(f["invocationCount"] for f in listed if f["name"] == name))


@dataclass(frozen=True)
class Received:
    """One request the callback receiver got."""

    at: float
    """``time.monotonic()`` when it arrived."""
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A callback receiver recording every request; ``fail_first[path]`` requests to a path get 500 first."""

    calls: list[Received] = field(default_factory=list)
    fail_first: dict[str, int] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        body = await request_body(receive)
        status = 200
        if self.fail_first.get(scope["path"], 0) > 0:
            self.fail_first[scope["path"]] -= 1
            self.refused.append(scope["path"])
            status = 500
        else:
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            self.calls.append(Received(time.monotonic(), scope["method"], scope["path"], headers, body))
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    def by_call_id(self) -> dict[str, list[Received]]:
        grouped: dict[str, list[Received]] = {}
        for call in self.calls:
            grouped.setdefault(call.headers.get("x-call-id", ""), []).append(call)
        return grouped

    async def wait_for(self, call_ids: set[str], within: float = 10.0) -> dict[str, list[Received]]:
        """The callbacks of ``call_ids`` once each has at least one."""

        async def all_there() -> dict[str, list[Received]] | None:
            grouped = {key: calls for key, calls in self.by_call_id().items() if key in call_ids}
            return grouped if len(grouped) == len(call_ids) else None

        return await eventually(all_there, within=within)


@asynccontextmanager
async def serving(app: ASGIApp) -> AsyncIterator[str]:
    """``app`` under uvicorn on a loopback socket; yields its base URL."""
    sock = bound_socket()
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", ws="none", loop="asyncio")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await eventually(lambda: _started(server))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def _started(server: uvicorn.Server) -> bool | None:
    return True if server.started else None


def worker_settings(nats_server: NatsServer, stream: str, provider_url: str, **fields: Any) -> WorkerSettings:
    """Settings for a worker on ``stream`` invoking the provider directly; ``fields`` override."""
    base: dict[str, Any] = {
        "faas_nats_address": nats_server.host,
        "faas_nats_port": nats_server.port,
        "faas_nats_channel": stream,
        "dead_letter_stream": f"{stream}-dl",
        # Each test's dead-letter stream reserves its max_bytes of the shared server's store
        # (by default three quarters of the free disk): 1 GiB each would run it out after a few dozen.
        "dead_letter_max_bytes": 16 * 1024**2,
        "status_bucket": f"{stream}-calls",
        "batch_bucket": f"{stream}-batches",
        "flow_bucket": f"{stream}-flow",
        "callback_stream": f"{stream}-cb",
        "body_bucket": f"{stream}-bodies",
        "gateway_invoke": False,
        "functions_provider_url": provider_url,
        "faas_reconnect_delay": "100ms",
        "shutdown_grace": "5s",
    }
    return WorkerSettings.model_validate(base | fields)


@asynccontextmanager
async def running(settings: WorkerSettings, hooks: WorkerHooks | None = None) -> AsyncIterator[list[Summary]]:
    """A worker running in this event loop; yields a list that holds its summary once it stopped."""
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, stop, hooks))
    summaries: list[Summary] = []
    try:
        yield summaries
    finally:
        stop.set()
        summaries.append(await asyncio.wait_for(task, 20))


async def publish(js: JetStreamContext, stream: str, call: QueuedCall) -> None:
    """Store ``call`` on its queue's subject, as the gateway does."""
    await js.publish(
        call_subject(queue_subject(stream, call.queue), call.call_id, call.priority),
        call.body,
        headers=call.nats_headers(),
        timeout=5,
    )


def call(call_id: str, function: str, callback: str | None, body: bytes = b"", **fields: Any) -> QueuedCall:
    """A queued call to ``function`` whose callback goes to ``callback``."""
    return QueuedCall(
        call_id=call_id, function=function, namespace="openfaas-fn", callback_url=callback, body=body,
        enqueued_at_ns=time.time_ns(), **fields,
    )  # fmt: skip
