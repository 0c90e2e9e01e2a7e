"""The invocation proxy: ``/function/<name>[/<path>]`` reverse-proxied to a ready replica.

A raw ASGI app (no FastAPI dependency chain: this is the hot path) with an aiohttp
client, since httpx's pool is slow under concurrency. Request and response bodies
stream through; status, headers and body pass through unchanged, except for
hop-by-hop headers, which are dropped, and ``X-Duration-Seconds`` and ``X-Call-Id``,
which are set (faas-provider's proxy and the OpenFaaS gateway do the same).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Self
from urllib.parse import unquote

import aiohttp
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from yarl import URL

from provider.calllog import call_id as call_id_var
from provider.errors import NoReplicaAvailable, ProviderError
from provider.httpclient import SessionOwner
from provider.protocol import Provider
from provider.statuses import status_for
from provider.types import split_namespace

__all__ = [
    "HOP_BY_HOP",
    "METHODS",
    "Forwarder",
    "FunctionProxy",
    "FunctionRoute",
    "Target",
    "end_to_end",
    "request_headers",
    "response_headers",
    "send_text",
    "target_of",
]

logger = logging.getLogger(__name__)

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD")
"""Methods faas-provider's proxy forwards; others get 405."""

Headers = list[tuple[bytes, bytes]]

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
"""RFC 9110 §7.6.1: headers meaningful for one connection only, never forwarded (lowercase)."""
_PREFIX = b"/function/"
# aiohttp would otherwise add these; the function should see only what the caller sent.
_NO_AUTO_HEADERS = ("Accept", "Accept-Encoding", "Content-Type", "User-Agent")


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


def _connection_tokens(headers: Iterable[tuple[bytes, bytes]]) -> frozenset[bytes]:
    listed = (value for key, value in headers if key.lower() == b"connection")
    return frozenset(token.strip().lower() for value in listed for token in value.split(b","))


def _filtered(headers: Iterable[tuple[bytes, bytes]], dropped: frozenset[bytes]) -> Headers:
    headers = list(headers)
    dropped = dropped | HOP_BY_HOP | _connection_tokens(headers)
    return [(key, value) for key, value in headers if key.lower() not in dropped]


def end_to_end(headers: Iterable[tuple[bytes, bytes]]) -> Headers:
    """The headers minus hop-by-hop ones (RFC 9110 §7.6.1, and those ``Connection`` names), order kept."""
    return _filtered(headers, frozenset())


def request_headers(scope: Scope, call_id: str | None) -> list[tuple[str, str]]:
    """Headers for the upstream: the caller's minus hop-by-hop and Host, plus call id and forwarding headers.

    ``call_id=None`` adds no ``X-Call-Id`` (the system API is not a call).
    """
    incoming: Headers = scope["headers"]
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in _filtered(incoming, frozenset({b"host"}))]
    if call_id is not None and not _has(incoming, b"x-call-id"):
        headers.append(("X-Call-Id", call_id))
    host = next((value for key, value in incoming if key == b"host"), None)
    if host is not None:
        headers.append(("X-Forwarded-Host", host.decode("latin-1")))
    if client := scope.get("client"):
        headers.append(("X-Forwarded-For", client[0]))
    return headers


def response_headers(upstream: Iterable[tuple[bytes, bytes]], call_id: str | None, seconds: float) -> Headers:
    """Headers for the caller: the upstream's minus hop-by-hop, with our duration and call id (unless None)."""
    if call_id is None:
        # uvicorn writes its own Date; a second one would make the response ambiguous.
        return _filtered(upstream, frozenset({b"date"}))
    headers = _filtered(upstream, frozenset({b"date", b"x-duration-seconds", b"x-call-id"}))
    headers.append((b"x-duration-seconds", f"{seconds:f}".encode()))
    headers.append((b"x-call-id", call_id.encode("latin-1")))
    return headers


def _has(headers: Headers, name: bytes) -> bool:
    return any(key.lower() == name for key, _ in headers)


def _header(headers: Headers, name: bytes) -> str | None:
    return next((v.decode("latin-1") for k, v in headers if k.lower() == name), None)


class _ClientGone(Exception):
    """The caller disconnected while its body was being forwarded."""


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        if chunk := message.get("body", b""):
            yield chunk
        if not message.get("more_body", False):
            return


def _has_body(headers: Headers) -> bool:
    length = _header(headers, b"content-length")
    return (length is not None and length.strip() != "0") or _has(headers, b"transfer-encoding")


async def send_text(send: Send, status: int, text: str, headers: Headers | None = None) -> None:
    """Send a whole plain-text response."""
    body = text.encode()
    start = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": start + (headers or [])})
    await send({"type": "http.response.body", "body": body})


async def _send_error(send: Send, status: int, text: str, call_id: str | None) -> None:
    headers = [(b"x-openfaas-internal", b"proxy")]
    if call_id is not None:
        headers.append((b"x-call-id", call_id.encode("latin-1")))
    await send_text(send, status, text, headers)


class Forwarder(SessionOwner):
    """Streams requests to upstream URLs and their responses back, over one aiohttp session.

    Open it (``async with``) before use. The provider's invocation proxy and the gateway's
    ``/function/`` and ``/system/`` proxies are all this.

    Args:
        timeout: longest time, in seconds, one forwarded request may take, unless ``forward`` is given another.
        upstream: what the upstream is, for error messages ("the provider").
    """

    def __init__(self, *, timeout: float | None, upstream: str = "the upstream") -> None:
        super().__init__(skip_auto_headers=_NO_AUTO_HEADERS)
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._upstream = upstream

    async def forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        url: URL,
        *,
        call_id: str | None,
        started: float,
        extra_headers: Iterable[tuple[str, str]] = (),
        client_timeout: aiohttp.ClientTimeout | None = None,
    ) -> None:
        """Stream the request to ``url`` and the response back; failures become 502 or 504 (``X-OpenFaaS-Internal``).

        Args:
            scope: the caller's request; method, headers and body are forwarded.
            receive: the caller's ASGI receive.
            send: the caller's ASGI send.
            url: the upstream URL, path and query already encoded.
            call_id: set as ``X-Call-Id`` on request and response, with ``X-Duration-Seconds``; None sets neither.
            started: ``time.perf_counter()`` when the request arrived.
            extra_headers: added to the forwarded request.
            client_timeout: replaces the forwarder's timeout for this request.
        """
        session = self.session
        data = _body(receive) if _has_body(scope["headers"]) else None
        relay = _Relay(send, call_id, started)
        timeout = client_timeout or self.timeout
        try:
            async with session.request(
                scope["method"],
                url,
                headers=[*request_headers(scope, call_id), *extra_headers],
                data=data,
                allow_redirects=False,
                timeout=timeout,
            ) as upstream:
                await relay.stream(upstream)
        except TimeoutError:
            await relay.fail(504, f"timed out after {timeout.total:g}s waiting for {url.path}")
        except (aiohttp.ClientError, _ClientGone) as exc:
            # aiohttp wraps an error raised by the body iterator in a ClientConnectionError.
            if isinstance(exc, _ClientGone) or isinstance(exc.__cause__, _ClientGone):
                logger.info("caller disconnected before its request body was sent to %s", url)
                return
            await relay.fail(502, f"cannot reach {self._upstream}: {str(exc) or type(exc).__name__}")


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
        call_id = _header(scope["headers"], b"x-call-id") or str(uuid.uuid4())
        call_id_var.set(call_id)
        target = target_of(scope, self._namespace)
        try:
            base = await self._provider.resolve(target.name, target.namespace)
        except ProviderError as exc:
            await _send_error(send, status_for(exc), _resolve_message(exc, target), call_id)
            return
        await self._forwarder.forward(scope, receive, send, target.url(base), call_id=call_id, started=started)


def _resolve_message(exc: ProviderError, target: Target) -> str:
    if isinstance(exc, NoReplicaAvailable):
        # OpenFaaS: faas-provider's proxy says exactly this.
        return f"No endpoints available for: {target.name}."
    return str(exc)


class _Relay:
    """Sends the replica's response to the caller; after the status line, failures can only cut the body."""

    def __init__(self, send: Send, call_id: str | None, started: float) -> None:
        self._send = send
        self._call_id = call_id
        self._started = started
        self._responded = False

    async def stream(self, upstream: aiohttp.ClientResponse) -> None:
        seconds = time.perf_counter() - self._started
        headers = response_headers(upstream.raw_headers, self._call_id, seconds)
        self._responded = True
        await self._send({"type": "http.response.start", "status": upstream.status, "headers": headers})
        async for chunk in upstream.content.iter_any():
            await self._send({"type": "http.response.body", "body": chunk, "more_body": True})
        end: Message = {"type": "http.response.body", "body": b""}
        await self._send(end)

    async def fail(self, status: int, text: str) -> None:
        logger.warning("invocation failed with %d: %s", status, text)
        if self._responded:
            # The status is already sent: cut the response, so the caller sees it is incomplete.
            raise ConnectionAbortedError(text)
        await _send_error(self._send, status, text, self._call_id)


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
