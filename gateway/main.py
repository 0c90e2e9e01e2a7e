"""``faasq-gateway``: the gateway, configured by the environment.

Listens on ``bind_address:port`` or, when ``listen_fd`` names an inherited listening
socket, on that socket. Several gateway processes may serve one port (``faasq up`` runs one
per core, each on its own ``SO_REUSEPORT`` socket): none keeps state another needs. With
``ready_file`` set, a process writes its id there once it serves. SIGTERM and SIGINT stop it
gracefully and it exits 0.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import socket
import sys
from pathlib import Path

import uvicorn

from gateway.app import create_app
from gateway.config import GatewaySettings
from plumbing.credentials import CredentialsError
from plumbing.logs import configure_logging
from plumbing.loops import uvloop_factory
from plumbing.settings import load_settings

__all__ = ["main", "server"]

logger = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn's server, which says in ``ready_file`` (when set) that it serves, and takes that back when it stops."""

    def __init__(self, config: uvicorn.Config, ready_file: Path | None) -> None:
        super().__init__(config)
        self._ready_file = ready_file

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self._ready_file is not None:
            partial = self._ready_file.with_name(self._ready_file.name + ".partial")
            partial.write_text(f"{os.getpid()}\n")
            os.replace(partial, self._ready_file)  # read whole or not at all

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self._ready_file is not None:
            with contextlib.suppress(FileNotFoundError):
                self._ready_file.unlink()
        await super().shutdown(sockets)


def server(settings: GatewaySettings) -> uvicorn.Server:
    """A uvicorn server for the gateway.

    Raises:
        CredentialsError: ``basic_auth`` is on and the credentials cannot be read.
    """
    config = uvicorn.Config(
        create_app(settings),
        host=settings.bind_address,
        port=settings.port,
        # The access log halves hot-path throughput; failures are logged with their call id.
        access_log=False,
        log_config=None,
        # Proxied responses keep the provider's Server header, if it sends one.
        server_header=False,
        loop="uvloop" if uvloop_factory() is not None else "asyncio",  # the gateway spawns no processes
        http="httptools",
        timeout_graceful_shutdown=5,
    )
    return _Server(config, settings.ready_file)


def main() -> None:
    """Run the gateway until SIGTERM or SIGINT, then exit 0; exit non-zero with one line on bad settings."""
    settings = load_settings(GatewaySettings, "faasq-gateway")
    configure_logging()
    try:
        gateway = server(settings)
    except CredentialsError as exc:
        sys.exit(f"faasq-gateway: cannot read the basic auth credentials: {exc}")
    sockets = None
    if settings.listen_fd is not None:
        # fileno= detects the family, unlike socket.fromfd (and uvicorn's fd=, which assumes AF_UNIX).
        sockets = [socket.socket(fileno=settings.listen_fd)]
        logger.info("serving on inherited socket %s", sockets[0].getsockname())
    # Long-lived objects (FastAPI, pydantic, the app) are then skipped by full collections,
    # which otherwise stall every request in flight: the p99 latency of /async-function/ halves.
    gc.freeze()
    # uvicorn re-raises the signal it drained on to the previous handler; these let a drain end in exit 0.
    for drained in (signal.SIGTERM, signal.SIGINT):
        signal.signal(drained, lambda signum, frame: None)
    gateway.run(sockets=sockets)
    if not gateway.started:
        sys.exit(3)  # the lifespan failed (NATS unreachable, stream not configurable): logged above


if __name__ == "__main__":
    main()
