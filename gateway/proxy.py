"""The gateway's proxies to the provider: ``/function/`` (synchronous invocation) and ``/system/``.

Both stream through :class:`plumbing.forwarding.Forwarder`. Invocations get ``X-Call-Id`` (the
caller's, or a new uuid), ``X-Start-Time`` and ``X-Duration-Seconds``; scaling from zero
is the provider's job, which holds the request until a replica is ready. With
``direct_functions`` an invocation skips the provider and goes to the function's own
address, ``http://<name>.<namespace>[.<suffix>]:<port>`` (a Kubernetes Service).
"""

from __future__ import annotations

import json
import platform
import time
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Self
from urllib.parse import unquote

import aiohttp
from starlette.types import Message, Receive, Scope, Send
from yarl import URL

from calls.metrics import CallMetrics, NoMetrics, function_label
from gateway.config import GatewaySettings
from gateway.errors import FunctionNotFound, GatewayError
from gateway.responses import send_error
from gateway.routes import FUNCTION
from gateway.validation import function_of
from plumbing.asgi import send_json, send_text
from plumbing.forwarding import Forwarder
from plumbing.logs import current_call_id
from plumbing.release import revision
from plumbing.tracecontext import TraceContext
from plumbing.tracing import Kind, Tracing

__all__ = ["ProviderProxy", "direct_url", "gateway_info"]

_FUNCTION = (FUNCTION + "/").encode()
_TRACE = frozenset({b"traceparent", b"tracestate"})
_READ = _TRACE | {b"x-call-id"}
# Followed logs may be quiet for any length of time; every other system call is bounded.
_STREAMING = ("/system/logs",)


def gateway_info(provider: object, release: str, sha: str) -> dict[str, object]:
    """OpenFaaS's gateway ``/system/info``: the provider's info, the gateway's version, the machine's arch."""
    return {"provider": provider, "version": {"sha": sha, "release": release}, "arch": platform.machine()}


def direct_url(function: str, namespace: str, rest: bytes, query: bytes, *, suffix: str, port: int) -> URL:
    """The function's own URL for ``direct_functions``: ``rest`` is the raw path after the name."""
    host = f"{function}.{namespace}.{suffix}" if suffix else f"{function}.{namespace}"
    tail = (rest or b"/") + (b"?" + query if query else b"")
    return URL(f"http://{host}:{port}{tail.decode('latin-1')}", encoded=True)


def _read(headers: list[tuple[bytes, bytes]]) -> tuple[str | None, str | None, str | None]:
    """``X-Call-Id``, ``traceparent`` and ``tracestate``, each if sent."""
    found: dict[bytes, str] = {}
    for key, value in headers:
        if key in _READ and key not in found:
            found[key] = value.decode("latin-1")
    return found.get(b"x-call-id"), found.get(b"traceparent"), found.get(b"tracestate")


class _Response:
    """Passes a response on, noting its status and whether the proxy itself answered (not the function)."""

    __slots__ = ("_send", "internal", "status")

    def __init__(self, send: Send) -> None:
        self._send = send
        self.status = 0
        self.internal = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.internal = any(key == b"x-openfaas-internal" for key, _ in message.get("headers", ()))
        await self._send(message)


def _raw_path(scope: Scope) -> bytes:
    # httpx's ASGITransport puts the query into raw_path; servers do not.
    raw: bytes = scope.get("raw_path") or scope["path"].encode()
    return raw.partition(b"?")[0]


class ProviderProxy:
    """Forwards invocations and system calls to the provider; open it (``async with``) before use.

    Args:
        settings: the provider URL and the timeouts come from here.
        version: the gateway's release, reported by ``/system/info``.
        metrics: counts invocations (OpenFaaS's gateway series).
        tracing: records each invocation as a span, whose context the function gets.
        known: whether a function is known to exist (its async calls' lookups), so that an unknown
            name the provider refuses never becomes a label.
    """

    def __init__(
        self,
        settings: GatewaySettings,
        *,
        version: str = "",
        metrics: CallMetrics | None = None,
        tracing: Tracing | None = None,
        known: Callable[[str, str], bool] = lambda function, namespace: False,
    ) -> None:
        self._metrics = metrics or NoMetrics()
        self._tracing = tracing or Tracing("faasq-gateway", {})
        self._known = known
        self._answered: set[str] = set()
        """Labels of functions that have answered a call themselves: functions that exist."""
        self._base = settings.functions_provider_url
        self._version = version
        self._namespace = settings.function_namespace
        self._direct = settings.direct_functions
        self._suffix, self._port = settings.direct_functions_suffix, settings.direct_functions_port
        invoke = min(settings.upstream_timeout, settings.write_timeout).total_seconds()
        self._forwarder = Forwarder(timeout=invoke, upstream="the provider")
        upstream = settings.upstream_timeout.total_seconds()
        self._system_timeout = aiohttp.ClientTimeout(total=upstream)
        self._streaming_timeout = aiohttp.ClientTimeout(total=None, sock_connect=upstream)

    async def __aenter__(self) -> Self:
        await self._forwarder.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._forwarder.__aexit__(exc_type, exc, tb)

    def _url(self, scope: Scope) -> URL:
        query = scope.get("query_string", b"")
        suffix = b"?" + query if query else b""
        return URL(self._base + (_raw_path(scope) + suffix).decode("latin-1"), encoded=True)

    async def invoke(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve ``/function/<name>[/<path>]`` through the provider."""
        started = time.perf_counter()
        given, traceparent, tracestate = _read(scope["headers"])
        call_id = given if given is not None else str(uuid.uuid4())
        current_call_id.set(call_id)
        name, slash, rest = _raw_path(scope)[len(_FUNCTION) :].partition(b"/")
        try:
            given = unquote(name.decode("latin-1"))
            if not given or given.startswith("."):
                # OpenFaaS: a path with no function name in it is not found, as any unknown function.
                raise FunctionNotFound("no function name in the path: use /function/<name>[.<namespace>]")
            function, namespace = function_of(given, self._namespace)
        except GatewayError as exc:
            exc.call_id = call_id
            await send_error(send, exc)
            return
        if self._direct:
            query = scope.get("query_string", b"")
            url = direct_url(function, namespace, slash + rest, query, suffix=self._suffix, port=self._port)
        else:
            url = self._url(scope)
        label = function_label(function, namespace)
        known = label in self._answered or self._known(function, namespace)
        if known:
            self._metrics.invocation_started(label)
        parent = TraceContext.parse(traceparent, tracestate)
        attributes = (
            {"faasq.call_id": call_id, "faas.invoked_name": function, "faasq.namespace": namespace}
            if self._tracing.enabled
            else None
        )
        span = self._tracing.start(f"invoke {function}", parent, Kind.SERVER, attributes)
        # The function's parent span is the gateway's; untraced, the caller's context passes on as it came.
        trace = span.context.headers() if span.context is not parent and span.context is not None else []
        response = _Response(send)
        # OpenFaaS: X-Start-Time (unix nanoseconds the gateway took the call) goes to the function and back.
        start_time = str(time.time_ns())
        try:
            await self._forwarder.forward(
                scope,
                receive,
                response.send,
                url,
                call_id=call_id,
                started=started,
                extra_headers=[("X-Start-Time", start_time), *trace],
                dropped_headers=_TRACE if trace else frozenset(),
                response_extra=[(b"x-start-time", start_time.encode())],
            )
        finally:
            if response.status >= 500:
                span.fail(f"HTTP {response.status}")
            span.set("http.response.status_code", response.status)
            span.end()
        if response.status and (known or not response.internal):
            if not known:
                self._answered.add(label)
                self._metrics.invocation_started(label)
            self._metrics.invoked(label, response.status, time.perf_counter() - started)

    async def info(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve ``GET /system/info`` as the OpenFaaS gateway does: the provider's info wrapped with the gateway's."""
        try:
            async with self._forwarder.session.get(self._base + "/system/info", timeout=self._system_timeout) as reply:
                if reply.status != 200:
                    await send_text(send, 502, f"the provider answered {reply.status} to /system/info")
                    return
                provider = await reply.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            await send_text(send, 502, f"cannot reach the provider: {str(exc) or type(exc).__name__}")
            return
        await send_json(send, 200, json.dumps(gateway_info(provider, self._version, revision())).encode(), [])

    async def system(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve ``/system/*`` through the provider."""
        streaming = scope["path"] in _STREAMING
        timeout = self._streaming_timeout if streaming else self._system_timeout
        await self._forwarder.forward(
            scope, receive, send, self._url(scope), call_id=None, started=time.perf_counter(), client_timeout=timeout
        )
