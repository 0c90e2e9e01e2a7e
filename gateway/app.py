"""The gateway app: async enqueue onto JetStream, the provider's API and invocations proxied.

Build one with :func:`create_app`; ``gateway.main`` serves it with uvicorn. Basic auth and
the hot routes (:class:`~gateway.routing.GatewayRoutes`) are pure ASGI in front of FastAPI's
middleware stack; FastAPI serves ``/healthz`` and the OpenAPI docs.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from nats.js import JetStreamContext
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.auth import BasicAuth, read_credentials
from gateway.batches import BatchesRoute, BatchLimits
from gateway.calls import CallLedger, CallsRoute, JetStreamCalls
from gateway.config import GatewaySettings
from gateway.deadletter_routes import dead_letter_router
from gateway.deadletters import DeadLetterAdmin
from gateway.enqueue import EnqueueLimits, EnqueueRoute
from gateway.functions import FunctionDirectory, FunctionLookup, ProviderLookup
from gateway.jetstream import JetStreamPublisher, Publisher
from gateway.openapi import hot_paths
from gateway.proxy import ProviderProxy
from gateway.routing import GatewayRoutes

__all__ = ["GatewayApp", "create_app"]

logger = logging.getLogger(__name__)

_DOC = """\
**Async calls.** `/async-function/<name>[.<namespace>][/<path>]`, any method: the call
(method, path, query, headers, body) is stored on NATS JetStream for the queue workers,
and the answer is **202** with `X-Call-Id` and `X-Start-Time` once JetStream has
acknowledged it. `X-Callback-Url` (an absolute http(s) URL) receives the result. Send
`X-Call-Id` to choose the call id: a call resent with the same id within the duplicate
window is stored once. Unknown function: 404, bad header: 400, body too large: 413,
NATS unavailable or not acknowledging in time: 503 (resend with the same `X-Call-Id`).

**Call status.** `GET /async-calls/<call-id>`: the call's status record (queued, running,
retrying, succeeded, failed, dead, cancelled) as JSON, 404 if unknown. `DELETE
/async-calls/<call-id>`, or OpenFaaS Pro's `DELETE /async-function/<call-id>`: cancel a call
that has not started (202), 409 if it is running or finished. With `basic_auth` on, both
need the gateway's credentials.

**Sync calls.** `/function/<name>[.<namespace>][/<path>]`, proxied to the provider and
streamed, with `X-Call-Id` and `X-Duration-Seconds`.

**System API.** `/system/*` is the provider's (deploy, list, scale, remove, logs,
secrets), proxied; `GET /system/info` wraps the provider's info with the gateway's
version and architecture, as OpenFaaS's gateway does. With `basic_auth` on, it needs
the gateway's credentials (401 otherwise).

**Batches.** `POST /async-batches/<name>` with a JSON array (`application/json`), one JSON
value a line (`application/x-ndjson`) or one item a line (`text/plain`): every item is
checked, then queued as the call `<batch-id>-<index>`; **202** with the batch id once all
are stored, 4xx with nothing queued on a bad item, **503** listing the stored items if
JetStream stopped part way. `X-Callback-Url` gets each item's result, `X-Batch-Callback-Url`
the batch's summary once every item has finished. `GET /async-batches/<batch-id>`: counts
by state and progress (`?items=failed` lists failed items); `DELETE` cancels the items not
started.

**Dead letters.** `/system/dead-letters` lists, shows, redrives and purges the calls
given up on (served by the gateway itself, with the same credentials).
"""


class GatewayApp(FastAPI):
    """FastAPI with the gateway's own pure ASGI layers (auth, hot routes) in front of its middleware stack.

    FastAPI's stack (error, telemetry and body-limit middleware) costs more per call than the
    whole enqueue; the hot routes never need it.
    """

    front: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve through the front layers; what they pass on reaches FastAPI."""
        if self.front is None:
            await super().__call__(scope, receive, send)
        else:
            await self.front(scope, receive, send)

    def openapi(self) -> dict[str, Any]:
        """FastAPI's schema, with the routes it never sees."""
        if self.openapi_schema is None:
            schema = super().openapi()
            schema["paths"] = hot_paths() | schema["paths"]
        return super().openapi()

    async def fastapi(self, scope: Scope, receive: Receive, send: Send) -> None:
        """FastAPI itself, behind the front layers."""
        await super().__call__(scope, receive, send)


def _version() -> str:
    try:
        return version("faasq")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0.0.0"


def _health() -> PlainTextResponse:
    return PlainTextResponse("OK")


def create_app(
    settings: GatewaySettings,
    *,
    publisher: Publisher | None = None,
    lookup: FunctionLookup | None = None,
    calls: CallLedger | None = None,
) -> FastAPI:
    """Build the gateway.

    Args:
        settings: the gateway's settings.
        publisher: stores calls; by default JetStream at ``faas_nats_address``.
        lookup: asks about functions; by default the provider at ``functions_provider_url``.
        calls: reads and cancels calls; by default the call status bucket, over the JetStream publisher's connection.

    Returns:
        The ASGI app. Its lifespan connects the publisher and lookup and opens the proxy's client.

    Raises:
        OSError: ``basic_auth`` is on and a credentials file cannot be read.
        ValueError: ``basic_auth`` is on and the user file is empty.
    """
    credentials = read_credentials(settings.secret_mount_path) if settings.basic_auth else None
    authorization = credentials.header() if credentials else None
    publisher = publisher or JetStreamPublisher(settings)
    # An async caller expects an answer within enqueue_timeout, whether the provider or NATS is slow.
    lookup = lookup or ProviderLookup(
        settings.functions_provider_url, timeout=settings.enqueue_timeout.total_seconds(), authorization=authorization
    )
    directory = FunctionDirectory(
        lookup, stream=settings.faas_nats_channel, ttl=settings.function_cache_ttl.total_seconds()
    )
    limits = EnqueueLimits(
        max_body_bytes=settings.max_body_bytes,
        read_timeout=settings.read_timeout.total_seconds(),
        enqueue_timeout=settings.enqueue_timeout.total_seconds(),
    )
    enqueue = EnqueueRoute(
        directory, publisher, limits, default_namespace=settings.function_namespace, guard=settings.callback_guard
    )
    proxy = ProviderProxy(settings, version=_version())
    calls = calls or _ledger(settings, publisher)
    batches = _batches(settings, directory, publisher, calls, enqueue)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await publisher.startup()
        try:
            _check_body_limit(settings, publisher)
            await calls.startup()
            await batches.startup()
            await lookup.startup()
            try:
                async with proxy:
                    logger.info("gateway ready; provider at %s", settings.functions_provider_url)
                    yield
            finally:
                await lookup.shutdown()
        finally:
            await publisher.shutdown()
            logger.info("gateway stopped")

    app = GatewayApp(
        title="faasq gateway",
        summary="OpenFaaS's gateway API: async calls on NATS JetStream, sync calls and the system API proxied.",
        description=_DOC,
        version=_version(),
        lifespan=lifespan,
    )
    app.add_api_route("/healthz", _health, methods=["GET"], response_class=PlainTextResponse, summary="Liveness")
    app.include_router(dead_letter_router(_dead_letters(settings, publisher)))
    front: ASGIApp = GatewayRoutes(app.fastapi, enqueue=enqueue, proxy=proxy, calls=CallsRoute(calls), batches=batches)
    app.front = BasicAuth(front, credentials=credentials) if credentials is not None else front
    return app


def _jetstream_of(publisher: Publisher) -> Callable[[], JetStreamContext | None]:
    def jetstream() -> JetStreamContext | None:
        # Another publisher (a test's) has no JetStream: the call and dead-letter routes then answer 503.
        return publisher.jetstream if isinstance(publisher, JetStreamPublisher) else None

    return jetstream


def _ledger(settings: GatewaySettings, publisher: Publisher) -> CallLedger:
    return JetStreamCalls(
        _jetstream_of(publisher),
        stream=settings.faas_nats_channel,
        bucket=settings.status_bucket,
        ttl=settings.status_ttl,
    )


def _batches(
    settings: GatewaySettings,
    directory: FunctionDirectory,
    publisher: Publisher,
    calls: CallLedger,
    enqueue: EnqueueRoute,
) -> BatchesRoute:
    limits = BatchLimits(
        max_items=settings.max_batch_items,
        read_timeout=settings.read_timeout.total_seconds(),
        enqueue_timeout=settings.enqueue_timeout.total_seconds(),
        publish_window=settings.batch_publish_window,
        enqueue_rate=settings.batch_enqueue_rate,
    )
    return BatchesRoute(
        directory,
        publisher,
        calls,
        _jetstream_of(publisher),
        limits,
        max_item_bytes=lambda: enqueue.max_body_bytes,
        default_namespace=settings.function_namespace,
        bucket=settings.batch_bucket,
        guard=settings.callback_guard,
    )


def _dead_letters(settings: GatewaySettings, publisher: Publisher) -> DeadLetterAdmin:
    return DeadLetterAdmin(
        _jetstream_of(publisher),
        stream=settings.dead_letter_stream,
        calls_stream=settings.faas_nats_channel,
        status_bucket=settings.status_bucket,
        max_age=settings.dead_letter_max_age.total_seconds(),
        max_bytes=settings.dead_letter_max_bytes,
        timeout=settings.enqueue_timeout.total_seconds(),
    )


def _check_body_limit(settings: GatewaySettings, publisher: Publisher) -> None:
    if publisher.max_payload and settings.max_body_bytes > publisher.max_payload:
        logger.warning(
            "max_body_bytes=%d is over the NATS server's max_payload=%d: async bodies are limited to the latter",
            settings.max_body_bytes,
            publisher.max_payload,
        )
