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
from types import TracebackType
from typing import Self
from urllib.parse import unquote

import aiohttp
from starlette.types import Receive, Scope, Send
from yarl import URL

from gateway.config import GatewaySettings
from gateway.errors import FunctionNotFound, GatewayError
from gateway.responses import send_error
from gateway.routes import FUNCTION
from gateway.validation import function_of
from plumbing.asgi import send_json, send_text
from plumbing.forwarding import Forwarder
from plumbing.logs import current_call_id
from plumbing.release import revision

__all__ = ["ProviderProxy", "direct_url", "gateway_info"]

_FUNCTION = (FUNCTION + "/").encode()
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


def _raw_path(scope: Scope) -> bytes:
    # httpx's ASGITransport puts the query into raw_path; servers do not.
    raw: bytes = scope.get("raw_path") or scope["path"].encode()
    return raw.partition(b"?")[0]


class ProviderProxy:
    """Forwards invocations and system calls to the provider; open it (``async with``) before use.

    Args:
        settings: the provider URL and the timeouts come from here.
        version: the gateway's release, reported by ``/system/info``.
    """

    def __init__(self, settings: GatewaySettings, *, version: str = "") -> None:
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
        given = next((v for k, v in scope["headers"] if k == b"x-call-id"), None)
        call_id = given.decode("latin-1") if given is not None else str(uuid.uuid4())
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
        # OpenFaaS: X-Start-Time (unix nanoseconds the gateway took the call) goes to the function and back.
        start_time = str(time.time_ns())
        await self._forwarder.forward(
            scope,
            receive,
            send,
            url,
            call_id=call_id,
            started=started,
            extra_headers=[("X-Start-Time", start_time)],
            response_extra=[(b"x-start-time", start_time.encode())],
        )

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
