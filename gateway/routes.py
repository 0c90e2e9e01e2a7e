"""The gateway's route table: each family of paths it serves, who answers it, and whether it needs credentials.

Routing (:class:`gateway.routing.GatewayRoutes`), basic auth (:mod:`gateway.auth`) and the
OpenAPI schema (:mod:`gateway.openapi`) all read :data:`ROUTES`. The hot routes are raw ASGI
handlers ahead of FastAPI; :attr:`Handler.APP` routes, and every path no route serves, go on
to FastAPI (``/healthz``, ``/docs``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, StrEnum

__all__ = [
    "ALERT",
    "ASYNC_BATCHES",
    "ASYNC_CALLS",
    "ASYNC_FUNCTION",
    "ASYNC_FUNCTIONS",
    "DEAD_LETTERS",
    "FUNCTION",
    "ROUTES",
    "UI",
    "Extent",
    "Handler",
    "Route",
    "needs_credentials",
    "route_of",
]

ASYNC_FUNCTION = "/async-function"
ASYNC_CALLS = "/async-calls"
ASYNC_BATCHES = "/async-batches"
FUNCTION = "/function"
SYSTEM = "/system"
DEAD_LETTERS = "/system/dead-letters"
ALERT = "/system/alert"
ASYNC_FUNCTIONS = "/system/async-functions"
UI = "/ui"


class Handler(StrEnum):
    """Who answers a route."""

    ENQUEUE = "enqueue"
    """Queues an async call (:class:`gateway.enqueue.EnqueueRoute`)."""
    CALLS = "calls"
    """An async call's status and cancel (:class:`gateway.calls.CallsRoute`)."""
    BATCHES = "batches"
    """Batch submission, status and cancel (:class:`gateway.batches.BatchesRoute`)."""
    INVOKE = "invoke"
    """A synchronous call, proxied to the provider (:meth:`gateway.proxy.ProviderProxy.invoke`)."""
    INFO = "info"
    """OpenFaaS's gateway ``/system/info`` (:meth:`gateway.proxy.ProviderProxy.info`)."""
    SYSTEM = "system"
    """The provider's system API, proxied (:meth:`gateway.proxy.ProviderProxy.system`)."""
    APP = "app"
    """FastAPI: the gateway's own admin routes."""


class Extent(Enum):
    """Which paths a route's path stands for."""

    EXACT = "exact"
    """The path itself."""
    BELOW = "below"
    """Any path under it: ``<path>/...``."""
    TREE = "tree"
    """The path itself and any path under it."""
    CHILD = "child"
    """``<path>/<segment>``, one non-empty segment and nothing after it."""


@dataclass(frozen=True, slots=True)
class Route:
    """One family of paths.

    Attributes:
        path: where it starts, without a trailing slash.
        handler: who answers.
        extent: which paths under ``path`` it serves.
        methods: the methods it serves (None: any).
        credentials: with ``basic_auth`` on, it needs the gateway's credentials; a route that serves any
            method also guards its bare ``path``.
        doc: its path in the OpenAPI schema, for the routes FastAPI never sees (None: undocumented there).
    """

    path: str
    handler: Handler
    extent: Extent = Extent.BELOW
    methods: frozenset[str] | None = None
    credentials: bool = False
    doc: str | None = None

    prefix: str = field(init=False, repr=False, compare=False)
    """``path`` and a slash: what every path strictly under it starts with."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "prefix", self.path + "/")

    def serves(self, method: str, path: str) -> bool:
        """Whether this route answers ``method`` on ``path``."""
        if self.methods is not None and method not in self.methods:
            return False
        extent = self.extent
        if extent is Extent.BELOW:
            return path.startswith(self.prefix)
        if extent is Extent.EXACT:
            return path == self.path
        if extent is Extent.TREE:
            return path == self.path or path.startswith(self.prefix)
        prefix = self.prefix
        return path.startswith(prefix) and len(path) > len(prefix) and path.find("/", len(prefix)) < 0

    def guards(self, method: str, path: str) -> bool:
        """Whether a request needs credentials because of this route."""
        return self.credentials and (self.serves(method, path) or (self.methods is None and path == self.path))


ROUTES = (
    # OpenFaaS Pro's cancel form: DELETE with nothing after the id (DELETE /async-function/<name>/ queues a call).
    Route(
        ASYNC_FUNCTION,
        Handler.CALLS,
        Extent.CHILD,
        methods=frozenset({"DELETE"}),
        credentials=True,
        doc="/async-function/{name}",
    ),
    Route(ASYNC_FUNCTION, Handler.ENQUEUE, doc="/async-function/{name}"),
    Route(ASYNC_CALLS, Handler.CALLS, credentials=True, doc="/async-calls/{call_id}"),
    Route(ASYNC_BATCHES, Handler.BATCHES, credentials=True),
    Route(FUNCTION, Handler.INVOKE, doc="/function/{name}"),
    Route("/system/info", Handler.INFO, Extent.EXACT, methods=frozenset({"GET"}), credentials=True),
    # The gateway's own admin routes, before the rest of /system/ goes to the provider.
    Route(DEAD_LETTERS, Handler.APP, Extent.TREE, credentials=True),
    Route(ALERT, Handler.APP, Extent.EXACT, credentials=True),
    Route(ASYNC_FUNCTIONS, Handler.APP, credentials=True),
    Route(SYSTEM, Handler.SYSTEM, credentials=True),
    Route(UI, Handler.APP, Extent.TREE, credentials=True),  # the dashboard
)
"""Every route, in the order a request is matched against them."""


def route_of(method: str, path: str) -> Route | None:
    """The first route that serves ``method`` on ``path``, or None (FastAPI answers)."""
    return next((route for route in ROUTES if route.serves(method, path)), None)


_GUARDED = tuple(route for route in ROUTES if route.credentials)
_GUARDED_PATHS = tuple(route.path for route in _GUARDED)


def needs_credentials(method: str, path: str) -> bool:
    """Whether ``method`` on ``path`` needs the gateway's credentials when ``basic_auth`` is on."""
    if not path.startswith(_GUARDED_PATHS):  # most paths, at the cost of one call
        return False
    return any(route.guards(method, path) for route in _GUARDED)
