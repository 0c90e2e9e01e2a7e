"""Pure ASGI dispatch of the gateway's routes, in front of the FastAPI app, by :data:`gateway.routes.ROUTES`.

The hot routes skip FastAPI's routing and exception middleware; :attr:`Handler.APP` routes
and every path no route serves go on to FastAPI.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.routes import ROUTES, Handler

__all__ = ["GatewayRoutes"]


class GatewayRoutes:
    """Hands each request to the handler its route names.

    Args:
        app: FastAPI, for :attr:`Handler.APP` and for paths no route serves.
        handlers: the ASGI app of every other handler.
    """

    def __init__(self, app: ASGIApp, handlers: Mapping[Handler, ASGIApp]) -> None:
        missing = set(Handler) - {Handler.APP} - handlers.keys()
        if missing:
            raise ValueError(f"no handler for {', '.join(sorted(missing))}")
        self.app = app
        every = {**handlers, Handler.APP: app}
        self._table = tuple((route, every[route.handler]) for route in ROUTES)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Dispatch by the first route that serves the request."""
        if scope["type"] == "http":
            method, path = scope["method"], scope["path"]
            for route, handler in self._table:
                if route.serves(method, path):
                    await handler(scope, receive, send)
                    return
        await self.app(scope, receive, send)
