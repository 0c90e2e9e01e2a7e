"""The webhook connector: an HTTP server whose ``POST /webhook/<topic>`` invokes the topic's functions."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator
from typing import ClassVar

import uvicorn

from connectors.sdk.connector import Connector
from connectors.sdk.controller import Controller
from connectors.webhook.app import WebhookApp
from connectors.webhook.config import Route, WebhookSettings, load_routes

__all__ = ["WebhookConnector"]

logger = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: the connector's ``stop`` event ends it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class WebhookConnector(Connector[WebhookSettings]):
    """Serves ``POST /webhook/<topic>`` for the topics of ``webhook_config``.

    Raises (at construction):
        connectors.webhook.config.WebhookConfigError: the topics file or a secret cannot be used.
    """

    name: ClassVar[str] = "webhook"
    settings_class: ClassVar[type[WebhookSettings]] = WebhookSettings

    def __init__(self, settings: WebhookSettings) -> None:
        super().__init__(settings)
        self.routes: dict[str, Route] = load_routes(settings.webhook_config, settings.secret_mount_path)

    def _socket(self) -> socket.socket:
        if self.settings.listen_fd is not None:
            return socket.socket(fileno=self.settings.listen_fd)
        sock = socket.create_server((self.settings.bind_address, self.settings.port), reuse_port=False)
        sock.setblocking(False)
        return sock

    async def run(self, controller: Controller, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set; requests in flight may finish for a few seconds."""
        app = WebhookApp(self.routes, controller, max_body_bytes=self.settings.max_body_bytes)
        config = uvicorn.Config(
            app, access_log=False, log_config=None, lifespan="off", server_header=False, timeout_graceful_shutdown=5
        )
        server = _Server(config)
        sock = self._socket()
        host, port = sock.getsockname()[:2]
        logger.info("webhooks on http://%s:%d/webhook/<topic> for %s", host, port, ", ".join(self.routes) or "no topic")
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait([serving, stopping], return_when=asyncio.FIRST_COMPLETED)
        server.should_exit = True
        stopping.cancel()
        try:
            await serving
        finally:
            sock.close()
