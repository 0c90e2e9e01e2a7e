"""The base class of a connector: what ``faasq-connector <name>`` runs.

A connector turns events from a source into :class:`~connectors.sdk.events.Event` values and
hands them to the :class:`~connectors.sdk.controller.Controller`; it acknowledges an event to
its source only when the result is ``done``. See docs/connectors.md.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar, Generic, TypeVar

from connectors.sdk.config import ConnectorSettings
from connectors.sdk.controller import Controller, open_controller
from connectors.sdk.deliveries import DeliveryLog, MemoryDeliveryLog
from connectors.sdk.events import Delivery, Event

__all__ = ["Connector", "run_connector"]

S = TypeVar("S", bound=ConnectorSettings)


class Connector(Generic[S]):
    """Subclass it, set ``name`` (and ``settings_class`` for settings of its own) and implement :meth:`run`.

    Attributes:
        name: the connector's name: ``X-Connector``, the prefix of its call ids, its log name.
        settings_class: read from the environment by ``faasq-connector``.
        settings: this connector's settings.
    """

    name: ClassVar[str] = "connector"
    settings_class: ClassVar[type[ConnectorSettings]] = ConnectorSettings

    def __init__(self, settings: S) -> None:
        self.settings = settings

    def delivery_log(self) -> DeliveryLog:
        """Where accepted deliveries are recorded; in memory unless overridden."""
        return MemoryDeliveryLog()

    async def startup(self, controller: Controller) -> None:
        """Called once the controller is open, before :meth:`run`; does nothing by default."""

    async def shutdown(self) -> None:
        """Called after :meth:`run` returned or failed; does nothing by default."""

    async def on_response(self, event: Event, delivery: Delivery) -> None:
        """Called with each function's answer; does nothing by default (the controller logs it)."""

    async def run(self, controller: Controller, stop: asyncio.Event) -> None:
        """Turn events into calls until ``stop`` is set, then return.

        Raises:
            NotImplementedError: the subclass did not implement it.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement run()")


async def run_connector(connector: Connector[S], stop: asyncio.Event) -> None:
    """Open the controller, then run ``connector`` until ``stop`` is set, with its start-up and shut-down hooks."""
    async with open_controller(
        connector.name, connector.settings, deliveries=connector.delivery_log(), on_response=connector.on_response
    ) as controller:
        await connector.startup(controller)
        try:
            await connector.run(controller, stop)
        finally:
            await connector.shutdown()
