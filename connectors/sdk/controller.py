"""The controller a connector runs with: the refreshed topic map and the invoker, over one aiohttp session.

It plays the part of OpenFaaS connector-sdk's ``Controller``: :meth:`Controller.invoke` sends an
event to every function of its topic; :meth:`Controller.invoke_functions` to chosen ones (cron
runs one function at a time).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence

from connectors.sdk.config import ConnectorSettings
from connectors.sdk.deliveries import DeliveryLog, MemoryDeliveryLog
from connectors.sdk.events import Delivery, Event, EventResult
from connectors.sdk.invoker import Invoker, ResponseHook
from connectors.sdk.topics import FunctionCatalog
from plumbing.credentials import read_credentials
from plumbing.sessions import SessionOwner

__all__ = ["Controller", "gateway_headers", "log_responses", "open_controller"]

logger = logging.getLogger(__name__)

# aiohttp would otherwise add these; a function sees only what the event carries.
_NO_AUTO_HEADERS = ("Accept", "Accept-Encoding", "Content-Type", "User-Agent")


def gateway_headers(settings: ConnectorSettings) -> dict[str, str]:
    """The gateway's basic auth header for ``/system/*``, when ``basic_auth`` is on.

    Raises:
        CredentialsError: a credentials file is missing or unreadable, or holds no user.
    """
    if not settings.basic_auth:
        return {}
    return {"Authorization": read_credentials(settings.secret_mount_path).header()}


def log_responses(settings: ConnectorSettings) -> ResponseHook:
    """A response hook that logs each answer as ``print_response`` and ``print_response_body`` ask."""

    async def log(event: Event, delivery: Delivery) -> None:
        if not settings.print_response:
            return
        level = logging.INFO if delivery.accepted else logging.WARNING
        logger.log(level, "%s -> %s in %.3fs", event.topic, delivery.summary, delivery.duration)
        if settings.print_response_body and delivery.body:
            logger.info("%s body: %s", delivery.function, delivery.body.decode(errors="replace").rstrip("\n"))

    return log


def _both(first: ResponseHook, second: ResponseHook | None) -> ResponseHook:
    if second is None:
        return first

    async def both(event: Event, delivery: Delivery) -> None:
        await first(event, delivery)
        await second(event, delivery)

    return both


class Controller:
    """The topic map and the invoker of one connector.

    Attributes:
        name: the connector's name.
        settings: its settings.
        catalog: the gateway's functions and topics, refreshed every ``rebuild_interval``.
    """

    def __init__(self, name: str, settings: ConnectorSettings, catalog: FunctionCatalog, invoker: Invoker) -> None:
        self.name = name
        self.settings = settings
        self.catalog = catalog
        self._invoker = invoker

    async def invoke(self, event: Event) -> EventResult:
        """Send ``event`` to every function subscribed to its topic that has not accepted it yet."""
        return await self._invoker.invoke(event, self.catalog.subscribers(event.topic))

    async def invoke_functions(self, event: Event, functions: Sequence[str]) -> EventResult:
        """Send ``event`` to ``functions``, whatever they subscribe to."""
        return await self._invoker.invoke(event, functions)


@contextlib.asynccontextmanager
async def open_controller(
    name: str,
    settings: ConnectorSettings,
    *,
    deliveries: DeliveryLog | None = None,
    on_response: ResponseHook | None = None,
) -> AsyncIterator[Controller]:
    """A controller whose topic map is refreshed in the background while the block runs.

    The first refresh is attempted before the block starts; when it fails the connector starts
    with an empty map, and later refreshes fill it in.

    Raises:
        OSError: ``basic_auth`` is on and the credentials cannot be read.
    """
    headers = gateway_headers(settings)
    stop = asyncio.Event()
    async with SessionOwner(skip_auto_headers=_NO_AUTO_HEADERS) as owner:
        timeout = settings.rebuild_timeout.total_seconds()
        catalog = FunctionCatalog(
            owner.session, settings.gateway_url, delimiter=settings.topic_delimiter, timeout=timeout, headers=headers
        )
        hook = _both(log_responses(settings), on_response)
        invoker = Invoker(owner.session, settings, name, deliveries or MemoryDeliveryLog(), hook)
        await catalog.refresh()
        refresher = asyncio.create_task(catalog.run(settings.rebuild_interval.total_seconds(), stop))
        try:
            yield Controller(name, settings, catalog, invoker)
        finally:
            stop.set()
            await refresher
