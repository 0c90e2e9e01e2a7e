"""``faasq-provider``: the provider REST server over the backend ``provider`` names (local or kubernetes).

Listens on ``bind_address:port`` or, when ``listen_fd`` names an inherited listening
socket, on that socket. SIGTERM and SIGINT stop it gracefully: open requests get
``shutdown_timeout``, then the lifespan stops every replica.
"""

from __future__ import annotations

import logging
import signal
import socket

import uvicorn

from plumbing.logs import configure_logging
from plumbing.settings import load_settings
from provider.app import create_app
from provider.config import ProviderSettings
from provider.kubernetes import KubernetesProvider
from provider.local import LocalProvider
from provider.protocol import Provider

__all__ = ["backend", "main", "server"]

logger = logging.getLogger(__name__)


def backend(settings: ProviderSettings) -> Provider:
    """The provider the ``provider`` setting names."""
    if settings.provider == "kubernetes":
        return KubernetesProvider(settings)
    return LocalProvider(settings)


def server(settings: ProviderSettings) -> uvicorn.Server:
    """A uvicorn server for the REST app over the configured backend."""
    app = create_app(settings, backend(settings))
    config = uvicorn.Config(
        app,
        host=settings.bind_address,
        port=settings.port,
        # The access log halves hot-path throughput; calls are logged by the proxy on failure.
        access_log=False,
        log_config=None,
        # Proxied responses keep the function's Server header, if it sends one.
        server_header=False,
        # uvloop forks where asyncio's loop uses vfork: replicas spawn far slower under it.
        loop="asyncio",
        timeout_graceful_shutdown=max(1, round(settings.shutdown_timeout.total_seconds())),
    )
    return uvicorn.Server(config)


def main() -> None:
    """Run the provider until SIGTERM or SIGINT, then exit 0; exit non-zero with one line on bad settings."""
    settings = load_settings(ProviderSettings, "faasq-provider")
    configure_logging()
    # The local provider's health checks would log every poll.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    sockets = None
    if settings.listen_fd is not None:
        # fileno= detects the family, unlike socket.fromfd (and uvicorn's fd=, which assumes AF_UNIX).
        sockets = [socket.socket(fileno=settings.listen_fd)]
        logger.info("serving on inherited socket %s", sockets[0].getsockname())
    # uvicorn re-raises the signal it drained on to the previous handler; these let a drain end in exit 0.
    for drained in (signal.SIGTERM, signal.SIGINT):
        signal.signal(drained, lambda signum, frame: None)
    server(settings).run(sockets=sockets)


if __name__ == "__main__":
    main()
