"""Invoking an event's functions through the gateway: all of them at once, within a bound, each at most once.

Sync (``/function/<fn>``): accepted on a 2xx; the function's output comes back in the
:class:`~connectors.sdk.events.Delivery`. Async (``/async-function/<fn>``): accepted on a 202;
the deterministic ``X-Call-Id`` lets the gateway drop a resent call. Functions that accepted
the event before (per the :class:`~connectors.sdk.deliveries.DeliveryLog`) are not called again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

import aiohttp

from connectors.sdk.config import ConnectorSettings
from connectors.sdk.deliveries import DeliveryLog
from connectors.sdk.events import Delivery, Event, EventResult, call_id_for
from plumbing.release import user_agent
from plumbing.sessions import body_payload

__all__ = ["Invoker", "ResponseHook", "invoke_headers", "is_accepted"]

logger = logging.getLogger(__name__)

ResponseHook = Callable[[Event, Delivery], Awaitable[None]]
"""Called with each function's answer (or failure), after the call."""


def is_accepted(status: int, asynchronous: bool) -> bool:
    """Whether a function took the event: 202 from ``/async-function/``, any 2xx from ``/function/``."""
    return status == 202 if asynchronous else 200 <= status < 300


def invoke_headers(event: Event, call_id: str, connector: str, settings: ConnectorSettings) -> list[tuple[str, str]]:
    """The event's headers, then ``Content-Type``, ``X-Topic``, ``X-Connector``, ``X-Call-Id`` and the callback."""
    headers = [*event.headers]
    if content_type := settings.content_type or event.content_type:
        headers.append(("Content-Type", content_type))
    headers += [("X-Topic", event.topic), ("X-Connector", connector), ("X-Call-Id", call_id)]
    headers.append(("User-Agent", user_agent(f"faasq-connector-{connector}")))
    if settings.asynchronous_invocation and settings.callback_url:
        headers.append(("X-Callback-Url", settings.callback_url))
    return headers


class Invoker:
    """Calls the functions of an event over an open aiohttp session.

    Args:
        session: an open aiohttp session (no automatic Content-Type or User-Agent).
        settings: the gateway, sync or async, timeout, concurrency and content type.
        connector: the connector's name, sent as ``X-Connector`` and part of each call id.
        deliveries: where accepted deliveries are recorded.
        on_response: called with each answer.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        settings: ConnectorSettings,
        connector: str,
        deliveries: DeliveryLog,
        on_response: ResponseHook | None = None,
    ) -> None:
        self._session = session
        self._settings = settings
        self._connector = connector
        self._deliveries = deliveries
        self._on_response = on_response
        self._slots = asyncio.Semaphore(settings.max_inflight)
        self._route = "async-function" if settings.asynchronous_invocation else "function"
        self._timeout = aiohttp.ClientTimeout(total=settings.upstream_timeout.total_seconds())

    async def invoke(self, event: Event, functions: Sequence[str]) -> EventResult:
        """Call each of ``functions`` that has not accepted ``event`` yet, concurrently; record who accepts."""
        earlier = await self._deliveries.accepted(event.id)
        todo = [function for function in functions if function not in earlier]
        deliveries = await asyncio.gather(*(self._deliver(event, function) for function in todo))
        return EventResult(event, tuple(functions), tuple(deliveries), tuple(sorted(earlier & set(functions))))

    async def _deliver(self, event: Event, function: str) -> Delivery:
        async with self._slots:
            delivery = await self._call(event, function)
        if delivery.accepted:
            await self._deliveries.record(event.id, function)
        if self._on_response is not None:
            try:
                await self._on_response(event, delivery)
            except Exception:  # a faulty hook must not turn an accepted event into a failed one
                logger.exception("the response hook failed for %s", delivery.function)
        return delivery

    async def _call(self, event: Event, function: str) -> Delivery:
        call_id = call_id_for(self._connector, event.id, function)
        url = f"{self._settings.gateway_url}/{self._route}/{function}"
        started = time.perf_counter()
        try:
            async with self._session.post(
                url,
                data=body_payload(event.body),
                headers=invoke_headers(event, call_id, self._connector, self._settings),
                timeout=self._timeout,
                allow_redirects=False,
            ) as response:
                body = await response.read()
                headers = tuple(response.headers.items())
        except TimeoutError:
            return Delivery(function, call_id, None, False, duration=time.perf_counter() - started, error="timed out")
        except (aiohttp.ClientError, OSError) as exc:
            error = f"unreachable ({str(exc) or type(exc).__name__})"
            return Delivery(function, call_id, None, False, duration=time.perf_counter() - started, error=error)
        accepted = is_accepted(response.status, self._settings.asynchronous_invocation)
        return Delivery(function, call_id, response.status, accepted, body, headers, time.perf_counter() - started)
