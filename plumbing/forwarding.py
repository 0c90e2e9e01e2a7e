"""Streaming a request to an upstream URL and its response back, as a reverse proxy does.

Request and response bodies stream through; status, headers and body pass through
unchanged, except for hop-by-hop headers, which are dropped, and ``X-Duration-Seconds`` and
``X-Call-Id``, which are set (faas-provider's proxy and the OpenFaaS gateway do the same).
An aiohttp client, since httpx's pool is slow under concurrency. The provider's proxy to
replicas and the gateway's proxies to the provider are all a :class:`Forwarder`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterable

import aiohttp
from starlette.types import Message, Receive, Scope, Send
from yarl import URL

from plumbing.asgi import Headers, send_text
from plumbing.headers import as_sent, end_to_end
from plumbing.sessions import SessionOwner

__all__ = ["Forwarder", "header", "request_headers", "response_headers", "send_proxy_error"]

logger = logging.getLogger(__name__)

# aiohttp would otherwise add these; the upstream should see only what the caller sent.
_NO_AUTO_HEADERS = ("Accept", "Accept-Encoding", "Content-Type", "User-Agent")
_HOST = frozenset({b"host"})


def header(headers: Headers, name: bytes) -> str | None:
    """The first value of header ``name`` (lowercase), or None."""
    return next((v.decode("latin-1") for k, v in headers if k.lower() == name), None)


def request_headers(
    scope: Scope, call_id: str | None, dropped: frozenset[bytes] = frozenset()
) -> list[tuple[str, str]]:
    """Headers for the upstream: the caller's minus hop-by-hop, Host and ``dropped``, plus call id and X-Forwarded-*.

    ``call_id=None`` adds no ``X-Call-Id`` (the system API is not a call).
    """
    incoming: Headers = scope["headers"]
    kept = end_to_end(incoming, _HOST | dropped)
    headers = [(k.decode("latin-1"), as_sent(v.decode("latin-1"))) for k, v in kept]
    if call_id is not None and header(incoming, b"x-call-id") is None:
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
        return end_to_end(upstream, frozenset({b"date"}))
    headers = end_to_end(upstream, frozenset({b"date", b"x-duration-seconds", b"x-call-id"}))
    headers.append((b"x-duration-seconds", f"{seconds:f}".encode()))
    headers.append((b"x-call-id", call_id.encode("latin-1")))
    return headers


async def send_proxy_error(
    send: Send, status: int, text: str, call_id: str | None, extra: Headers | None = None
) -> None:
    """Answer an error of the proxy itself, marked ``X-OpenFaaS-Internal: proxy`` as faas-provider marks it."""
    headers = [(b"x-openfaas-internal", b"proxy")]
    if call_id is not None:
        headers.append((b"x-call-id", call_id.encode("latin-1")))
    await send_text(send, status, text, headers + (extra or []))


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
    length = header(headers, b"content-length")
    return (length is not None and length.strip() != "0") or header(headers, b"transfer-encoding") is not None


class Forwarder(SessionOwner):
    """Streams requests to upstream URLs and their responses back, over one aiohttp session.

    Open it (``async with``) before use.

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
        dropped_headers: frozenset[bytes] = frozenset(),
        response_extra: Headers | None = None,
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
            dropped_headers: the caller's headers of these names (lowercase) are not forwarded.
            response_extra: added to the response (the upstream's own of these names are dropped).
            client_timeout: replaces the forwarder's timeout for this request.
        """
        session = self.session
        data = _body(receive) if _has_body(scope["headers"]) else None
        relay = _Relay(send, call_id, started, response_extra or [])
        timeout = client_timeout or self.timeout
        try:
            async with session.request(
                scope["method"],
                url,
                headers=[*request_headers(scope, call_id, dropped_headers), *extra_headers],
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


class _Relay:
    """Sends the upstream's response to the caller; after the status line, failures can only cut the body."""

    def __init__(self, send: Send, call_id: str | None, started: float, extra: Headers) -> None:
        self._send = send
        self._call_id = call_id
        self._started = started
        self._extra = extra
        self._responded = False

    async def stream(self, upstream: aiohttp.ClientResponse) -> None:
        seconds = time.perf_counter() - self._started
        headers = response_headers(upstream.raw_headers, self._call_id, seconds)
        if self._extra:
            names = {name for name, _ in self._extra}
            headers = [(name, value) for name, value in headers if name.lower() not in names] + self._extra
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
        await send_proxy_error(self._send, status, text, self._call_id, self._extra)
