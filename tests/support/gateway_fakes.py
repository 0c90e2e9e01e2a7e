"""The gateway app in process over fakes: stand-ins for its two seams, its settings, a client through its lifespan.

``FakeLink`` and ``FakeLookup`` replace the link to NATS and the function lookup; ``serve``
runs the app's lifespan around an ``httpx.ASGITransport`` client.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO

import httpx
from fastapi import FastAPI
from nats.js import JetStreamContext

from calls.bodies import Bodies
from calls.wire import QueuedCall
from gateway.config import GatewaySettings
from gateway.errors import ProviderUnavailable, QueueUnavailable
from gateway.jetstream import Receipt
from provider.types import FunctionStatus


class FakeLink:
    """Keeps published calls; ``failure`` makes every publish fail; a repeated call id is a duplicate.

    It has no JetStream: the routes over the call, batch and dead-letter stores answer 503.
    """

    def __init__(self, max_payload: int = 1024 * 1024) -> None:
        self.published: list[tuple[str, QueuedCall]] = []
        self.failure: str | None = None
        self.hang = False
        self.events: list[str] = []
        self._max_payload = max_payload

    @property
    def max_payload(self) -> int:
        return self._max_payload

    def jetstream(self) -> JetStreamContext:
        raise QueueUnavailable("not connected to NATS")

    async def bodies(self) -> Bodies:
        raise QueueUnavailable("not connected to NATS")

    async def startup(self) -> None:
        self.events.append("startup")

    async def shutdown(self) -> None:
        self.events.append("shutdown")

    async def publish(
        self,
        subject: str,
        call: QueuedCall,
        timeout: float,  # noqa: ASYNC109
        body: BinaryIO | None = None,
    ) -> Receipt:
        if body is not None:  # kept in the call, as a body bucket would keep it
            call = replace(call, body=body.read())
        if self.hang:
            await asyncio.sleep(timeout)
            raise QueueUnavailable(
                f"Error queuing request: no acknowledgement within {timeout:g}s", call_id=call.call_id
            )
        if self.failure is not None:
            raise QueueUnavailable(f"Error queuing request: {self.failure}", call_id=call.call_id)
        seen = [index for index, (_, kept) in enumerate(self.published) if kept.call_id == call.call_id]
        if seen:
            return Receipt("fake", seen[0] + 1, duplicate=True)
        self.published.append((subject, call))
        return Receipt("fake", len(self.published))


class FakeLookup:
    """Functions in a dict keyed by (name, namespace); ``down`` makes the provider unreachable."""

    def __init__(self, *functions: FunctionStatus) -> None:
        self.functions = {(f.name, f.namespace or "openfaas-fn"): f for f in functions}
        self.asked: list[tuple[str, str]] = []
        self.down = False
        self.gate: asyncio.Event | None = None
        self.events: list[str] = []

    async def startup(self) -> None:
        self.events.append("startup")

    async def shutdown(self) -> None:
        self.events.append("shutdown")

    async def get(self, name: str, namespace: str) -> FunctionStatus | None:
        self.asked.append((name, namespace))
        if self.gate is not None:
            await self.gate.wait()
        if self.down:
            raise ProviderUnavailable(f"cannot look up function {name!r} at the provider: refused", function=name)
        return self.functions.get((name, namespace))

    async def listing(self) -> list[FunctionStatus]:
        if self.down:
            raise ProviderUnavailable("cannot list functions at the provider: refused")
        return list(self.functions.values())

    async def scale(self, name: str, namespace: str, replicas: int) -> None:
        if self.down:
            raise ProviderUnavailable(f"cannot scale function {name!r} at the provider: refused", function=name)
        self.events.append(f"scale {name}.{namespace} {replicas}")
        status = self.functions[(name, namespace)]
        self.functions[(name, namespace)] = status.model_copy(update={"replicas": replicas})


def function(
    name: str, namespace: str = "openfaas-fn", queue: str | None = None, annotations: dict[str, str] | None = None
) -> FunctionStatus:
    annotations = dict(annotations or {})
    if queue is not None:
        annotations["com.openfaas.queue"] = queue
    return FunctionStatus(name=name, namespace=namespace, image="i", annotations=annotations)


# Nothing listens on the discard port: proxied routes fail fast with 502.
UNREACHABLE = "http://127.0.0.1:9/"


def settings_with(tmp_path: Path, **overrides: Any) -> GatewaySettings:
    return GatewaySettings(functions_provider_url=UNREACHABLE, secret_mount_path=tmp_path, **overrides)


def serve(app: FastAPI) -> Any:
    return _Served(app)


class _Served:
    def __init__(self, app: FastAPI) -> None:
        self._app = app
        self._lifespan = app.router.lifespan_context(app)
        self._client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")

    async def __aenter__(self) -> httpx.AsyncClient:
        await self._lifespan.__aenter__()
        return self._client

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()
        await self._lifespan.__aexit__(None, None, None)
