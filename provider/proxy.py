"""The invocation proxy: ``/function/<name>[/<path>]`` reverse-proxied to a ready replica.

A raw ASGI app (no FastAPI dependency chain: this is the hot path) that resolves the
function to a replica and streams the call through a :class:`~plumbing.forwarding.Forwarder`.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from types import TracebackType
from typing import Self
from urllib.parse import unquote

from starlette.types import ASGIApp, Receive, Scope, Send
from yarl import URL

from plumbing.forwarding import Forwarder, header, send_proxy_error
from plumbing.logs import current_call_id
from provider.errors import NoReplicaAvailable, ProviderError
from provider.protocol import Provider
from provider.statuses import status_for
from provider.types import split_namespace

__all__ = ["METHODS", "FunctionProxy", "FunctionRoute", "Target", "is_invocation", "target_of"]

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD")
"""Methods faas-provider's proxy forwards; others get 405."""

_PREFIX = b"/function/"


@dataclass(frozen=True, slots=True)
class Target:
    """Where one invocation goes: the function, its namespace and the raw path and query for the replica."""

    name: str
    namespace: str
    path: str
    query: str

    def url(self, base: str) -> URL:
        """The replica URL, the path and query kept byte for byte."""
        suffix = f"?{self.query}" if self.query else ""
        return URL(f"{base.rstrip('/')}{self.path}{suffix}", encoded=True)


def target_of(scope: Scope, default_namespace: str, prefix: bytes = _PREFIX) -> Target:
    """Parse ``<prefix><name>[.<ns>][/<path>]`` from an ASGI scope; ``name.ns`` selects a namespace."""
    raw = scope.get("raw_path") or scope["path"].encode()
    head, slash, rest = raw[len(prefix) :].partition(b"?")[0].partition(b"/")
    name, namespace = split_namespace(unquote(head.decode("latin-1")), default_namespace)
    path = "/" + rest.decode("latin-1") if slash else "/"
    return Target(name, namespace, path, scope.get("query_string", b"").decode("latin-1"))


class FunctionProxy:
    """ASGI app for ``/function/<name>[/<path>]``; open it (``async with``) before serving.

    Args:
        provider: resolves a function to a ready replica's base URL.
        default_namespace: the namespace of a name without ``.ns``.
        timeout: longest time, in seconds, an invocation may take (``upstream_timeout``).
    """

    def __init__(self, provider: Provider, *, default_namespace: str, timeout: float) -> None:
        self._provider = provider
        self._namespace = default_namespace
        self._forwarder = Forwarder(timeout=timeout, upstream="the function's replica")

    async def __aenter__(self) -> Self:
        await self._forwarder.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._forwarder.__aexit__(exc_type, exc, tb)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one invocation."""
        started = time.perf_counter()
        call_id = header(scope["headers"], b"x-call-id") or str(uuid.uuid4())
        current_call_id.set(call_id)
        target = target_of(scope, self._namespace)
        try:
            base = await self._provider.resolve(target.name, target.namespace)
        except ProviderError as exc:
            await send_proxy_error(send, status_for(exc), _resolve_message(exc, target), call_id)
            return
        await self._forwarder.forward(scope, receive, send, target.url(base), call_id=call_id, started=started)


def _resolve_message(exc: ProviderError, target: Target) -> str:
    if isinstance(exc, NoReplicaAvailable):
        # OpenFaaS: faas-provider's proxy says exactly this.
        return f"No endpoints available for: {target.name}."
    return str(exc)


def is_invocation(path: str) -> bool:
    """Whether ``path`` is ``/function/<name>[/<path>]`` with a non-empty name."""
    return path.startswith("/function/") and len(path) > len(_PREFIX) and path[len(_PREFIX)] != "/"


class FunctionRoute:
    """Pure ASGI middleware that hands ``/function/<name>[/<path>]`` straight to the proxy.

    Skipping FastAPI's routing and exception middleware on the hot path roughly doubles
    invocation throughput; everything else goes on to the app.

    Args:
        app: the rest of the application.
        proxy: serves invocations.
    """

    def __init__(self, app: ASGIApp, proxy: FunctionProxy) -> None:
        self.app = app
        self.proxy = proxy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve an invocation, or pass the request on."""
        if scope["type"] != "http" or not is_invocation(scope["path"]):
            await self.app(scope, receive, send)
        elif scope["method"] not in METHODS:
            # OpenFaaS: faas-provider's proxy answers other methods with 405.
            headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"allow", ", ".join(METHODS).encode())]
            await send({"type": "http.response.start", "status": 405, "headers": headers})
            await send({"type": "http.response.body", "body": b"Method Not Allowed"})
        else:
            await self.proxy(scope, receive, send)
