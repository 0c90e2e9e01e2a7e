"""Running a queued call: the original request replayed against ``/function/<name>``, over one aiohttp session."""

from __future__ import annotations

import logging
import time
from typing import BinaryIO, Protocol

import aiohttp
from yarl import URL

from calls.outcome import Attempt, Failure, Outcome
from calls.wire import REBUILT_HEADERS, QueuedCall
from plumbing.headers import HOP_BY_HOP, as_sent
from plumbing.sessions import SessionOwner, body_payload

__all__ = ["HttpInvoker", "Invoker", "function_url", "invoke_headers"]

logger = logging.getLogger(__name__)

# Set by the worker or by aiohttp for this request, never copied from the queued one.
_REPLACED = (
    frozenset(name.decode() for name in HOP_BY_HOP)
    | frozenset(["x-start-time", "x-retry", "x-retry-max", "traceparent", "tracestate"])
    | REBUILT_HEADERS
)
# aiohttp would otherwise add these; the function should see only what the caller sent.
_NO_AUTO_HEADERS = ("Accept", "Accept-Encoding", "Content-Type", "User-Agent")


class Invoker(Protocol):
    """Runs one call and reports what came of it; never raises for the function's own failures."""

    async def invoke(self, call: QueuedCall, attempt: Attempt) -> Outcome:
        """Send run ``attempt`` of ``call`` to its function and return its response, or why there is none."""


def invoke_headers(
    call: QueuedCall, attempt: Attempt, extra: list[tuple[str, str]] | None = None
) -> list[tuple[str, str]]:
    """The queued request's headers minus hop-by-hop ones, plus ``X-Call-Id``, ``X-Start-Time``, the attempt and trace.

    ``X-Callback-Url`` is the call's callback URL, as the caller sent it; ``X-Start-Time`` is when the gateway
    accepted the call (unix nanoseconds), as on a sync call;
    ``X-Retry`` and ``X-Retry-Max`` tell the function which run this is; ``traceparent`` (and
    ``tracestate``) is the call's trace context.
    """
    connection = {
        token.strip().lower()
        for name, value in call.headers
        if name.lower() == "connection"
        for token in value.split(",")
    }
    replaced = _REPLACED | connection
    headers = [(name, as_sent(value)) for name, value in call.headers if name.lower() not in replaced]
    started = call.enqueued_at_ns or time.time_ns()
    if call.callback_url:
        headers.append(("X-Callback-Url", call.callback_url))
    headers += [("X-Call-Id", call.call_id), ("X-Start-Time", str(started)), *attempt.headers, *(extra or [])]
    if call.trace is not None:
        headers += call.trace.headers()
    return headers


def function_url(base: str, call: QueuedCall) -> URL:
    """``<base>/function/<name>[.<namespace>]<path>[?<query>]``, the path and query kept byte for byte."""
    name = f"{call.function}.{call.namespace}" if call.namespace else call.function
    query = f"?{call.query}" if call.query else ""
    return URL(f"{base.rstrip('/')}/function/{name}{call.path}{query}", encoded=True)


class HttpInvoker(SessionOwner):
    """An :class:`Invoker` over HTTP: the gateway's or the provider's ``/function/`` route.

    Open it (``async with``) before use.

    Args:
        base_url: the gateway or provider, e.g. ``http://127.0.0.1:8080``.
        timeout: longest time, in seconds, one call may take.
        extra_headers: added to every request (the gateway's credentials).
    """

    def __init__(self, base_url: str, *, timeout: float, extra_headers: list[tuple[str, str]] | None = None) -> None:
        super().__init__(skip_auto_headers=_NO_AUTO_HEADERS)
        self._base = base_url
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._extra = extra_headers or []

    async def invoke(self, call: QueuedCall, attempt: Attempt, body: BinaryIO | None = None) -> Outcome:
        """Replay ``call`` with its method, path, query, headers and body; failures become an :class:`Outcome`.

        ``body``, if given, is sent instead of ``call.body``: read from where it is to its end, chunk by chunk.
        """
        session = self.session
        started = time.perf_counter()
        data = body if body is not None else body_payload(call.body) if call.body else None
        try:
            async with session.request(
                call.method,
                function_url(self._base, call),
                headers=invoke_headers(call, attempt, self._extra),
                data=data,
                allow_redirects=False,
                timeout=self._timeout,
            ) as response:
                answer = await response.read()
                headers = [(name, value) for name, value in response.headers.items()]
                return Outcome(response.status, headers, answer, time.perf_counter() - started)
        except TimeoutError:
            return Outcome(None, duration=time.perf_counter() - started, failure=Failure.TIMEOUT, detail="timed out")
        except (aiohttp.ClientError, OSError) as exc:
            detail = str(exc) or type(exc).__name__
            return Outcome(None, duration=time.perf_counter() - started, failure=Failure.CONNECTION, detail=detail)
