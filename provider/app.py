"""The provider REST server: faas-provider's HTTP API in front of any :class:`~provider.protocol.Provider`.

Build one with :func:`create_app`; ``provider.main`` serves it with uvicorn. The system
API (``/system/*``, ``/healthz``) is FastAPI; ``/function/<name>`` is served by pure ASGI
(:class:`~provider.proxy.FunctionRoute`) in front of it, because it is the hot path.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, Response

from plumbing.loops import running_loop
from plumbing.release import release
from provider import routes, routes_logs
from provider.config import ProviderSettings
from provider.errors import ProviderError
from provider.protocol import Provider
from provider.proxy import FunctionProxy, FunctionRoute
from provider.statuses import status_for

__all__ = ["create_app"]

logger = logging.getLogger(__name__)


_INVOKE_DOC = """\
Functions are invoked at `/function/<name>[.<namespace>][/<path>]` with GET, POST, PUT,
PATCH, DELETE, OPTIONS or HEAD: the request (method, path, query, headers, body) is
streamed to a ready replica, scaled up from zero if need be, and its response streamed
back with `X-Duration-Seconds` and `X-Call-Id`. Unknown function: 404; no replica ready
in time: 503; replica unreachable: 502; `upstream_timeout` exceeded: 504.
"""


async def _provider_error(request: Request, exc: ProviderError) -> Response:
    status = status_for(exc)
    if status >= 500:
        logger.error("%s %s failed: %s", request.method, request.url.path, exc)
    return PlainTextResponse(str(exc), status_code=status)


async def _not_implemented(request: Request, exc: NotImplementedError) -> Response:
    return PlainTextResponse(str(exc) or "not implemented by this provider", status_code=501)


async def _bad_query(request: Request, exc: RequestValidationError) -> Response:
    # Bodies are decoded by provider.deps (400); what reaches here is a bad query or path.
    problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'][1:])}: {err['msg']}" for err in exc.errors())
    return PlainTextResponse(f"invalid query: {problems}", status_code=422)


def create_app(settings: ProviderSettings, provider: Provider) -> FastAPI:
    """Build the provider REST server for ``provider``.

    The lifespan calls ``provider.startup()``, opens the proxy's HTTP client, and on
    exit closes the client and calls ``provider.shutdown()``.

    Args:
        settings: the default namespace and the invocation timeout come from here.
        provider: the backend every route talks to.

    Returns:
        The ASGI app; serve it with uvicorn (``provider.main``) or drive it with ``httpx.ASGITransport``.
    """
    proxy = FunctionProxy(
        provider,
        default_namespace=settings.function_namespace,
        timeout=settings.upstream_timeout.total_seconds(),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await provider.startup()
        try:
            async with proxy:
                logger.info("provider API ready on %s", running_loop())
                yield
        finally:
            await provider.shutdown()
            logger.info("provider stopped")

    app = FastAPI(
        title="faasq provider",
        summary="faas-provider's REST API: deploy, list, scale, remove, logs and secrets.",
        description=_INVOKE_DOC,
        version=release(),
        lifespan=lifespan,
        exception_handlers={
            ProviderError: _provider_error,
            NotImplementedError: _not_implemented,
            RequestValidationError: _bad_query,
        },
    )
    app.state.settings = settings
    app.state.provider = provider
    app.include_router(routes.router)
    app.include_router(routes_logs.router)
    app.add_middleware(FunctionRoute, proxy=proxy)
    return app
