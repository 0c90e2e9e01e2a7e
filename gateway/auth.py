"""Basic auth on the gateway's protected routes, as the OpenFaaS gateway does it, as pure ASGI middleware.

With ``basic_auth=true`` a request for a route that :data:`gateway.routes.ROUTES` marks as
needing credentials (``/system/*``, ``/async-calls/*``, ``/async-batches/*`` and the cancel
form ``DELETE /async-function/<call-id>``) must carry the gateway's own; ``/function/``,
``/async-function/`` and ``/healthz`` stay open.

A browser that has the credentials (after the dashboard asked for them) sends them with any
request, even one another site's page makes: a protected request that changes something and
that the browser marks as cross-site (``Sec-Fetch-Site: cross-site``) is refused with a 403.
Clients that are not browsers send no such header.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.routes import needs_credentials
from plumbing.asgi import send_text
from plumbing.credentials import Credentials, parse_basic_auth

__all__ = ["BasicAuth", "is_protected"]

_READS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_protected(path: str, method: str = "GET") -> bool:
    """Whether a request for ``path`` with ``method`` needs credentials."""
    return needs_credentials(method, path)


class BasicAuth:
    """Answer 401 to a request for a protected path without the right credentials.

    Args:
        app: the rest of the application.
        credentials: the accepted user and password.
    """

    def __init__(self, app: ASGIApp, credentials: Credentials) -> None:
        self.app = app
        self.credentials = credentials

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the credentials of a protected request; pass everything else on."""
        if scope["type"] != "http" or not is_protected(scope["path"], scope["method"]):
            await self.app(scope, receive, send)
            return
        if scope["method"] not in _READS and _header(scope, b"sec-fetch-site") == b"cross-site":
            await send_text(send, 403, "cross-site requests may not change anything through the gateway's admin API")
            return
        if self._authorized(scope):
            await self.app(scope, receive, send)
            return
        # OpenFaaS: exactly this challenge and body.
        await send_text(send, 401, "invalid credentials", [(b"www-authenticate", b'Basic realm="Restricted"')])

    def _authorized(self, scope: Scope) -> bool:
        header = _header(scope, b"authorization")
        given = parse_basic_auth(header.decode("latin-1") if header is not None else None)
        return given is not None and self.credentials.matches(given)


def _header(scope: Scope, name: bytes) -> bytes | None:
    return next((v for k, v in scope["headers"] if k == name), None)
