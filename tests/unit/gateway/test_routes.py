"""The route table: which handler serves a request, and which requests need credentials."""

from __future__ import annotations

import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.routes import ROUTES, Handler, needs_credentials, route_of
from gateway.routing import GatewayRoutes


@pytest.mark.parametrize(
    ("method", "path", "handler"),
    [
        ("POST", "/async-function/echo", Handler.ENQUEUE),
        ("GET", "/async-function/echo/x/y", Handler.ENQUEUE),
        ("POST", "/async-function/", Handler.ENQUEUE),  # answered 400: no name
        # OpenFaaS Pro's cancel form: DELETE and nothing after the call id.
        ("DELETE", "/async-function/0f8fad5b-d9cb", Handler.CALLS),
        ("DELETE", "/async-function/order.7:a", Handler.CALLS),
        ("DELETE", "/async-function/echo/", Handler.ENQUEUE),  # a path after the name: an async DELETE call
        ("DELETE", "/async-function/echo/x", Handler.ENQUEUE),
        ("DELETE", "/async-function/", Handler.ENQUEUE),
        ("POST", "/async-function/0f8fad5b-d9cb", Handler.ENQUEUE),
        ("GET", "/async-calls/c1", Handler.CALLS),
        ("DELETE", "/async-calls/c1", Handler.CALLS),
        ("POST", "/async-batches/echo", Handler.BATCHES),
        ("DELETE", "/function/0f8fad5b-d9cb", Handler.INVOKE),
        ("GET", "/system/info", Handler.INFO),
        ("POST", "/system/info", Handler.SYSTEM),
        ("GET", "/system/dead-letters", Handler.APP),
        ("POST", "/system/dead-letters/c1/redrive", Handler.APP),
        ("GET", "/system/dead-lettersx", Handler.SYSTEM),
        ("GET", "/system/functions", Handler.SYSTEM),
    ],
)
def test_a_request_goes_to_the_first_route_that_serves_it(method: str, path: str, handler: Handler) -> None:
    route = route_of(method, path)
    assert route is not None
    assert route.handler is handler


@pytest.mark.parametrize("path", ["/healthz", "/docs", "/openapi.json", "/system", "/async-calls", "/function", "/"])
def test_other_paths_go_to_fastapi(path: str) -> None:
    assert route_of("GET", path) is None


@pytest.mark.parametrize(
    ("method", "path", "protected"),
    [
        ("GET", "/system/functions", True),
        ("GET", "/system", True),
        ("GET", "/system/info", True),
        ("GET", "/system/dead-letters", True),
        ("GET", "/async-calls/abc", True),
        ("GET", "/async-calls", True),
        ("POST", "/async-batches/echo", True),
        ("DELETE", "/async-function/abc", True),
        ("DELETE", "/async-function/echo/", False),
        ("GET", "/async-function", False),
        ("GET", "/systemx", False),
        ("POST", "/function/echo", False),
        ("POST", "/async-function/echo", False),
        ("GET", "/healthz", False),
        ("GET", "/docs", False),
        ("GET", "/ui", True),
        ("GET", "/ui/", True),
        ("GET", "/ui/calls/abc", True),
        ("GET", "/ui/api/overview", True),
        ("POST", "/ui/api/dead-letters/groups/redrive", True),
        ("GET", "/uix", False),
    ],
)
def test_credentials_guard_the_admin_routes(method: str, path: str, protected: bool) -> None:
    assert needs_credentials(method, path) is protected


async def _app(scope: Scope, receive: Receive, send: Send) -> None:
    pass


def test_every_handler_but_fastapis_must_be_given() -> None:
    given: dict[Handler, ASGIApp] = {h: _app for h in Handler if h not in (Handler.APP, Handler.BATCHES)}
    with pytest.raises(ValueError, match="no handler for batches"):
        GatewayRoutes(_app, given)


def test_every_route_path_is_absolute_without_a_trailing_slash() -> None:
    assert all(route.path.startswith("/") and not route.path.endswith("/") for route in ROUTES)
