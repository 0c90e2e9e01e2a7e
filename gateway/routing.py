"""Pure ASGI dispatch of the gateway's hot routes, in front of the FastAPI app.

``/async-function/``, ``/async-calls/``, ``/async-batches/``, ``/function/`` and ``/system/`` skip FastAPI's
routing and exception middleware; everything else (``/healthz``, ``/docs``, and
``/system/dead-letters``, which the gateway serves itself) goes on to the app.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.batches import BATCHES_PREFIX, BatchesRoute
from gateway.calls import CALLS_PREFIX, CallsRoute, cancel_form_call_id
from gateway.deadletter_routes import PREFIX as DEAD_LETTERS
from gateway.enqueue import PREFIX, EnqueueRoute
from gateway.proxy import ProviderProxy

__all__ = ["GatewayRoutes"]


class GatewayRoutes:
    """Hands each proxied or queued route to its handler.

    Args:
        app: the rest of the application.
        enqueue: serves ``/async-function/``.
        proxy: serves ``/function/`` and ``/system/``.
        calls: serves ``/async-calls/`` and ``DELETE /async-function/<call-id>``.
        batches: serves ``/async-batches/``.
    """

    def __init__(
        self, app: ASGIApp, enqueue: EnqueueRoute, proxy: ProviderProxy, calls: CallsRoute, batches: BatchesRoute
    ) -> None:
        self.app = app
        self.enqueue = enqueue
        self.proxy = proxy
        self.calls = calls
        self.batches = batches

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Dispatch on the path's first segment."""
        if scope["type"] == "http":
            path: str = scope["path"]
            if path.startswith(PREFIX):
                cancelling = scope["method"] == "DELETE" and cancel_form_call_id("DELETE", path) is not None
                await (self.calls if cancelling else self.enqueue)(scope, receive, send)
                return
            if path.startswith(CALLS_PREFIX):
                await self.calls(scope, receive, send)
                return
            if path.startswith(BATCHES_PREFIX):
                await self.batches(scope, receive, send)
                return
            if path.startswith("/function/"):
                await self.proxy.invoke(scope, receive, send)
                return
            if path == "/system/info" and scope["method"] == "GET":
                await self.proxy.info(scope, receive, send)
                return
            if path == DEAD_LETTERS or path.startswith(DEAD_LETTERS + "/"):
                await self.app(scope, receive, send)  # the gateway's own admin routes, not the provider's
                return
            if path.startswith("/system/"):
                await self.proxy.system(scope, receive, send)
                return
        await self.app(scope, receive, send)
