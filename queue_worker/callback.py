"""Reporting a call's result: its function's body POSTed to ``X-Callback-Url``, retried, never re-run.

Connection errors and 5xx answers are retried with exponential backoff and jitter, for up to
about a minute by default (``callback_attempts``, ``callback_initial_wait``,
``callback_max_wait``); the call keeps its slot meanwhile and its heartbeat keeps its lease.
A host the callback guard refuses (as written, or as resolved) is never contacted nor retried.
With a signing secret, each POST is signed (see :mod:`queue_worker.signing`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

import aiohttp
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential, wait_random
from yarl import URL

from calls.callback_guard import CallbackGuard
from calls.metrics import CallMetrics, NoMetrics, function_label
from calls.outcome import Attempt, Outcome
from calls.wire import QueuedCall
from plumbing.headers import HOP_BY_HOP
from plumbing.release import user_agent
from plumbing.sessions import SessionOwner, body_payload
from plumbing.tracing import Kind, Tracing
from queue_worker.resolver import CallbackRefused, GuardedResolver
from queue_worker.signing import signature_headers

__all__ = ["CallbackSender", "HttpCallbackSender", "callback_headers"]

logger = logging.getLogger(__name__)


class CallbackSender(Protocol):
    """Delivers a call's result to its callback URL."""

    async def send(self, call: QueuedCall, outcome: Outcome, attempt: Attempt) -> str | None:
        """POST the result of run ``attempt``, the call's final one, to ``call.callback_url``.

        Returns:
            None once the receiver took it (any non-5xx answer) or when there is no callback URL;
            else why it could not be delivered.
        """


_SET_HERE = frozenset(
    {
        "x-call-id",
        "x-function-name",
        "x-function-status",
        "x-duration-seconds",
        "x-retry",
        "x-retry-max",
        "user-agent",
        "content-length",
        "host",
        "traceparent",
        "tracestate",
    }
)
"""Headers the worker sets itself (or aiohttp does): a function's own of these names are not copied."""
_HOP_BY_HOP = frozenset(name.decode() for name in HOP_BY_HOP)


def callback_headers(call: QueuedCall, outcome: Outcome, attempt: Attempt, agent: str) -> list[tuple[str, str]]:
    """The callback's headers: OpenFaaS's, then every response header of the function, as OpenFaaS's worker copies them.

    ``X-Call-Id``, ``X-Function-Name``, ``X-Function-Status``, ``X-Duration-Seconds``, ``X-Retry``,
    ``X-Retry-Max`` and ``User-Agent`` are the worker's; the function's headers follow in order,
    repeated names kept, minus hop-by-hop ones, those names, and ``X-Faasq-*`` (the signature's).
    """
    headers = [
        ("X-Call-Id", call.call_id),
        ("X-Function-Name", call.function),
        # OpenFaaS: X-Function-Status is the function's status, not the callback's; 503 when it could not be run.
        ("X-Function-Status", str(outcome.reported_status)),
        ("X-Duration-Seconds", f"{outcome.duration:f}"),
        *attempt.headers,
        ("User-Agent", agent),
    ]
    listed = {
        token.strip().lower()
        for name, value in outcome.headers
        if name.lower() == "connection"
        for token in value.split(",")
    }
    dropped = _SET_HERE | _HOP_BY_HOP | listed
    for name, value in outcome.headers:
        lower = name.lower()
        if lower not in dropped and not lower.startswith("x-faasq-"):
            headers.append((name, value))
    return headers


class _Retryable(Exception):
    """The receiver answered 5xx: worth another try."""


_RETRYABLE = (_Retryable, aiohttp.ClientError, OSError, TimeoutError)


class HttpCallbackSender(SessionOwner):
    """A :class:`CallbackSender` over one aiohttp session, retrying connection errors and 5xx with backoff.

    Open it (``async with``) before use.

    Args:
        timeout: longest time, in seconds, one POST may take.
        attempts: most POSTs of one callback.
        initial_wait: seconds before the second POST; the wait doubles (with jitter) up to ``max_wait``.
        max_wait: the longest wait between two POSTs.
        signing_secret: signs every POST when set.
        guard: the hosts callbacks may reach (by default all but link-local and cloud-metadata ones).
        metrics: counts callbacks by outcome, with their durations.
        tracing: records each POST as a span in the call's trace; the receiver gets its ``traceparent``.
    """

    def __init__(
        self,
        *,
        timeout: float,
        attempts: int,
        initial_wait: float = 0.1,
        max_wait: float = 2.0,
        signing_secret: bytes | None = None,
        guard: CallbackGuard | None = None,
        metrics: CallMetrics | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self._metrics = metrics or NoMetrics()
        self._tracing = tracing or Tracing("faasq-queue-worker", {})
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._attempts = attempts
        self._first_wait = initial_wait
        self._wait = wait_exponential(multiplier=2 * initial_wait, max=max_wait) + wait_random(0, initial_wait)
        self._agent = user_agent("faasq-queue-worker")
        self._secret = signing_secret
        self._guard = guard or CallbackGuard()
        # No Content-Type unless the function sent one.
        super().__init__(
            skip_auto_headers=("Content-Type",), auto_decompress=True, resolver=GuardedResolver(self._guard)
        )

    async def send(self, call: QueuedCall, outcome: Outcome, attempt: Attempt) -> str | None:
        """POST the result, retrying; failures are logged (with the call id) and returned, never raised."""
        if call.callback_url is None:
            return None
        started = time.perf_counter()
        failure, result = await self._deliver(call, outcome, attempt)
        self._metrics.called_back(function_label(call.function, call.namespace), result, time.perf_counter() - started)
        return failure

    async def _deliver(self, call: QueuedCall, outcome: Outcome, attempt: Attempt) -> tuple[str | None, str]:
        """Why the callback was not delivered (None: it was), and its ``outcome`` label."""
        # The first POST goes without tenacity: its bookkeeping costs about as much as a POST on loopback.
        failure, result, retryable = await self.post_once(call, outcome, attempt)
        if retryable:
            return await self._retry(call, outcome, attempt, failure or "")
        return failure, result

    async def post_once(self, call: QueuedCall, outcome: Outcome, attempt: Attempt) -> tuple[str | None, str, bool]:
        """One POST of the result, for a sender that schedules its own retries.

        Returns:
            Why it was not delivered (None: it was, or the receiver answered a 4xx, which is final),
            its ``outcome`` label for the metrics, and whether another POST may succeed.
        """
        url = call.callback_url or ""
        try:
            if (refusal := self._guard.refuse_url(url)) is not None:
                raise CallbackRefused(refusal)
            status = await self._post(call, outcome, attempt)
        except CallbackRefused as exc:
            logger.warning("callback to %s refused: %s", url, exc)
            return f"callback refused: {exc}", "refused", False
        except _RETRYABLE as exc:
            return str(exc) or type(exc).__name__, "failed", True
        return None, self._answered(url, status), False

    def counted(self, call: QueuedCall, result: str, seconds: float) -> None:
        """Count one callback's end (``delivered``, ``rejected``, ``refused``, ``failed``) and how long it took."""
        self._metrics.called_back(function_label(call.function, call.namespace), result, seconds)

    def _answered(self, url: str, status: int) -> str:
        if status < 400:
            return "delivered"
        logger.warning("callback to %s refused: HTTP %d; not retried", url, status)
        return "rejected"

    async def _retry(self, call: QueuedCall, outcome: Outcome, attempt: Attempt, last: str) -> tuple[str | None, str]:
        if self._attempts > 1:
            retrying = AsyncRetrying(
                stop=stop_after_attempt(self._attempts - 1),
                wait=self._wait,
                retry=retry_if_exception_type(_RETRYABLE),
                reraise=True,
            )
            try:
                await asyncio.sleep(self._first_wait)
                status: int = await retrying(self._post, call, outcome, attempt)
            except _RETRYABLE as exc:
                last = str(exc) or type(exc).__name__
            except CallbackRefused as exc:  # the name now resolves to a refused address
                logger.warning("callback to %s refused: %s", call.callback_url, exc)
                return f"callback refused: {exc}", "refused"
            else:
                return None, self._answered(call.callback_url or "", status)
        reason = f"callback failed {self._attempts} times, last: {last}"
        logger.warning("%s (%s)", reason, call.callback_url)
        return reason, "failed"

    async def _post(self, call: QueuedCall, outcome: Outcome, attempt: Attempt) -> int:
        url = call.callback_url or ""
        headers = callback_headers(call, outcome, attempt, self._agent)
        if self._secret is not None:
            headers += signature_headers(self._secret, int(time.time()), call.call_id, outcome.body).items()
        attributes = (
            {"faasq.call_id": call.call_id, "faas.invoked_name": call.function, "url.full": _without_credentials(url)}
            if self._tracing.enabled
            else None
        )
        with self._tracing.start("callback", call.trace, Kind.CLIENT, attributes) as span:
            if span.context is not None:
                headers += span.context.headers()
            data = body_payload(outcome.body)
            async with self.session.post(url, data=data, headers=headers, timeout=self._timeout) as response:
                await response.read()
                span.set("http.response.status_code", response.status)
                if response.status >= 500:
                    raise _Retryable(f"HTTP {response.status}")
                return response.status


def _without_credentials(url: str) -> str:
    """``url`` as a span may show it: user and password left out, as OpenTelemetry asks of ``url.full``."""
    parsed = URL(url)
    return str(parsed.with_user(None)) if parsed.user or parsed.password else url
