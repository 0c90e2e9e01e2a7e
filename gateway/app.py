"""The gateway app: async enqueue onto JetStream, the provider's API and invocations proxied.

:func:`create_app` composes it once: the route table's handlers (:mod:`gateway.routes`) as
pure ASGI ahead of FastAPI, which serves ``/healthz``, the docs and the dead-letter routes;
one NATS link whose JetStream the call, batch and dead-letter stores share; and a lifespan
that starts each part on an exit stack and stops them in reverse.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse, Response
from nats.js import JetStreamContext
from starlette.types import ASGIApp, Receive, Scope, Send

from calls.metrics import CallMetrics, NoMetrics
from gateway.alerts import AlertRoutes
from gateway.auth import BasicAuth
from gateway.batch_submission import BatchLimits, BatchSubmitter
from gateway.batches import BatchesRoute
from gateway.calls import CallLedger, CallsRoute, JetStreamCalls
from gateway.config import GatewaySettings
from gateway.dashboard import Overview, Sampler
from gateway.deadletter_routes import DeadLetterRoutes
from gateway.deadletters import DeadLetterAdmin
from gateway.enqueue import EnqueueLimits, EnqueueRoute
from gateway.errors import GatewayError
from gateway.functions import FunctionDirectory, FunctionLookup, ProviderLookup
from gateway.jetstream import JetStreamLink, NatsLink
from gateway.metrics import Scraper
from gateway.openapi import components, hot_paths
from gateway.pauses import PauseRoutes
from gateway.proxy import ProviderProxy
from gateway.recent_calls import RecentCalls
from gateway.responses import error_json
from gateway.routes import Handler
from gateway.routing import GatewayRoutes
from gateway.stores import Stores
from gateway.ui_routes import DashboardRoutes
from plumbing.credentials import Credentials, read_credentials
from plumbing.loops import running_loop
from plumbing.metrics import CONTENT_TYPE, flushing
from plumbing.release import release
from plumbing.tracing import Tracing

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

**Call status.** `GET /async-calls/<call-id>`: the call's status record (scheduled, queued, running,
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
    """FastAPI behind the gateway's own pure ASGI layers (auth, the route table's handlers).

    FastAPI's stack (error, telemetry and body-limit middleware) costs more per call than the
    whole enqueue; the hot routes never reach it.

    Args:
        front: builds the front layers around FastAPI itself.
        **kwargs: FastAPI's.
    """

    def __init__(self, front: Callable[[ASGIApp], ASGIApp], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._front = front(self._fastapi)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve through the front layers; what they pass on reaches FastAPI."""
        await self._front(scope, receive, send)

    async def _fastapi(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)

    def openapi(self) -> dict[str, Any]:
        """FastAPI's schema, with the routes it never sees."""
        if self.openapi_schema is None:
            schema = super().openapi()
            schema["paths"] = hot_paths() | schema["paths"]
            schema.setdefault("components", {}).setdefault("schemas", {}).update(components())
        return super().openapi()


def _health() -> PlainTextResponse:
    return PlainTextResponse("OK")


def create_app(
    settings: GatewaySettings,
    *,
    link: NatsLink | None = None,
    lookup: FunctionLookup | None = None,
    calls: CallLedger | None = None,
) -> GatewayApp:
    """Build the gateway.

    Args:
        settings: the gateway's settings.
        link: stores calls and lends JetStream to the stores; by default NATS at ``faas_nats_address``.
        lookup: asks about functions; by default the provider at ``functions_provider_url``.
        calls: reads and cancels calls; by default the call status bucket over ``link``.

    Returns:
        The ASGI app. Its lifespan connects the link and the lookup and opens the proxy's client.

    Raises:
        CredentialsError: ``basic_auth`` is on and the credentials cannot be read.
    """
    credentials = read_credentials(settings.secret_mount_path) if settings.basic_auth else None
    link = link or JetStreamLink(settings)
    # An async caller expects an answer within enqueue_timeout, whether the provider or NATS is slow.
    lookup = lookup or ProviderLookup(
        settings.functions_provider_url,
        timeout=settings.enqueue_timeout.total_seconds(),
        authorization=credentials.header() if credentials else None,
    )
    stores = Stores(link, settings)
    directory = FunctionDirectory(
        lookup, stream=settings.faas_nats_channel, ttl=settings.function_cache_ttl.total_seconds()
    )
    metrics = CallMetrics() if settings.metrics else NoMetrics()
    tracing = Tracing("faasq-gateway")
    proxy = ProviderProxy(
        settings,
        version=release(),
        metrics=metrics,
        tracing=tracing,
        known=lambda function, namespace: directory.cached(function, namespace) is not None,
    )

    sampler = Sampler()
    recent = RecentCalls(_status_jetstream(stores), settings.status_bucket)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            stack.callback(logger.info, "gateway stopped")
            stack.callback(tracing.shutdown)  # last: the spans of the calls that drained go out
            if settings.metrics:  # next to last: the counts of the calls that drained go out
                await stack.enter_async_context(flushing())
            for part in (link, lookup):
                await part.startup()
                stack.push_async_callback(part.shutdown)
            await stack.enter_async_context(proxy)
            stack.callback(asyncio.create_task(sampler.run()).cancel)  # the dashboard's charts
            stack.push_async_callback(recent.close)
            logger.info("gateway ready on %s; provider at %s", running_loop(), settings.functions_provider_url)
            yield

    parts = _Parts(link, directory, stores, proxy, metrics, tracing)
    ledger = calls or JetStreamCalls(stores, metrics)
    handlers = _handlers(settings, parts, ledger)
    app = GatewayApp(
        lambda fastapi: _front(fastapi, handlers, credentials),
        title="faasq gateway",
        summary="OpenFaaS's gateway API: async calls on NATS JetStream, sync calls and the system API proxied.",
        description=_DOC,
        version=release(),
        lifespan=lifespan,
        exception_handlers={GatewayError: error_json},
    )
    app.add_api_route("/healthz", _health, methods=["GET"], response_class=PlainTextResponse, summary="Liveness")
    if settings.metrics:
        scraper = Scraper(
            lookup, link, stream=settings.faas_nats_channel, timeout=settings.enqueue_timeout.total_seconds()
        )
        app.add_api_route(
            "/metrics",
            _metrics_route(scraper),
            methods=["GET"],
            response_class=PlainTextResponse,
            summary="Prometheus metrics",
            description="OpenFaaS's gateway series and faasq's queue series, in the text exposition format "
            "(every process of the stack when it runs under `faasq up`).",
        )
    dead_letters = DeadLetterAdmin(stores, timeout=settings.enqueue_timeout.total_seconds())
    app.include_router(DeadLetterRoutes(dead_letters).router())
    timeout = settings.enqueue_timeout.total_seconds()
    overview = Overview(sampler, lookup, link.jetstream, stream=settings.faas_nats_channel, timeout=timeout)
    app.include_router(DashboardRoutes(overview, recent, ledger, dead_letters, stores).router())
    app.include_router(AlertRoutes(lookup).router())
    app.include_router(PauseRoutes(directory, stores, settings.function_namespace).router())
    return app


def _status_jetstream(stores: Stores) -> Callable[[], Awaitable[JetStreamContext]]:
    async def jetstream() -> JetStreamContext:
        await stores.calls()  # the bucket exists
        return stores.jetstream()

    return jetstream


def _metrics_route(scraper: Scraper) -> Callable[[], Awaitable[Response]]:
    async def metrics() -> Response:
        return Response(await scraper.exposition(), media_type=CONTENT_TYPE)

    return metrics


@dataclass(frozen=True, slots=True)
class _Parts:
    """What the handlers share: the NATS link, the function directory, the stores, the proxy, the instruments."""

    link: NatsLink
    directory: FunctionDirectory
    stores: Stores
    proxy: ProviderProxy
    metrics: CallMetrics
    tracing: Tracing


def _front(fastapi: ASGIApp, handlers: dict[Handler, ASGIApp], credentials: Credentials | None) -> ASGIApp:
    routes = GatewayRoutes(fastapi, handlers)
    return BasicAuth(routes, credentials) if credentials is not None else routes


def _handlers(settings: GatewaySettings, parts: _Parts, calls: CallLedger) -> dict[Handler, ASGIApp]:
    """The ASGI app that serves each handler of the route table."""
    read_timeout, enqueue_timeout = settings.read_timeout.total_seconds(), settings.enqueue_timeout.total_seconds()
    enqueue = EnqueueRoute(
        parts.directory,
        parts.link,
        EnqueueLimits(
            settings.max_body_bytes,
            read_timeout=read_timeout,
            enqueue_timeout=enqueue_timeout,
            delays=settings.message_schedules,
        ),
        default_namespace=settings.function_namespace,
        guard=settings.callback_guard,
        metrics=parts.metrics,
        tracing=parts.tracing,
    )
    limits = BatchLimits(
        max_items=settings.max_batch_items,
        read_timeout=read_timeout,
        enqueue_timeout=enqueue_timeout,
        publish_window=settings.batch_publish_window,
        enqueue_rate=settings.batch_enqueue_rate,
        delays=settings.message_schedules,
    )
    submit = BatchSubmitter(
        parts.directory,
        parts.link,
        parts.stores,
        limits,
        max_item_bytes=lambda: enqueue.max_body_bytes,
        default_namespace=settings.function_namespace,
        guard=settings.callback_guard,
        metrics=parts.metrics,
        tracing=parts.tracing,
    )
    return {
        Handler.ENQUEUE: enqueue,
        Handler.CALLS: CallsRoute(calls),
        Handler.BATCHES: BatchesRoute(submit, calls, parts.stores),
        Handler.INVOKE: parts.proxy.invoke,
        Handler.INFO: parts.proxy.info,
        Handler.SYSTEM: parts.proxy.system,
    }
