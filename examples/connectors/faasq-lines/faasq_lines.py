"""An example connector: each line read from stdin is an event for the functions subscribed to ``lines_topic``.

It shows the whole contract of a connector: settings of its own (environment variables), events
with an id, and acknowledgement only when every function accepted the event; a line that some
function refused is retried, and the retry calls only the functions that refused it.

    echo hello | lines_topic=greetings faasq-connector lines
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import ClassVar

from pydantic import Field

from connectors.sdk import Connector, ConnectorSettings, Controller, Event

__all__ = ["LinesConnector", "LinesSettings"]

logger = logging.getLogger(__name__)


class LinesSettings(ConnectorSettings):
    """The shared connector settings, plus this connector's own."""

    lines_topic: str = Field("lines", description="The topic each line is sent to.")
    lines_attempts: int = Field(3, ge=1, description="Tries per line before it is given up.")
    lines_retry_wait: float = Field(0.5, ge=0, description="Seconds between two tries of a line.")


class LinesConnector(Connector[LinesSettings]):
    """Reads stdin to its end (or until stopped), one event per line."""

    name: ClassVar[str] = "lines"
    settings_class: ClassVar[type[LinesSettings]] = LinesSettings

    async def run(self, controller: Controller, stop: asyncio.Event) -> None:
        """Send each line until stdin ends or ``stop`` is set."""
        await controller.catalog.built.wait()  # the first topic map, so the first line reaches its functions
        number = 0
        while not stop.is_set():
            line = await asyncio.to_thread(sys.stdin.buffer.readline)
            if not line:
                return
            number += 1
            await self._send(controller, Event(self.settings.lines_topic, line.rstrip(b"\n"), id=f"line-{number}"))

    async def _send(self, controller: Controller, event: Event) -> None:
        for attempt in range(1, self.settings.lines_attempts + 1):
            result = await controller.invoke(event)
            if result.done:
                logger.info("%s accepted by %s", event.id, ", ".join(result.accepted) or "no function")
                return
            logger.warning("%s, try %d: %s", event.id, attempt, result.describe_failure())
            await asyncio.sleep(self.settings.lines_retry_wait)
        logger.error("%s given up after %d tries", event.id, self.settings.lines_attempts)
