"""A real callback receiver for async calls: a small ASGI app on uvicorn, on a socket the kernel chose."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.support.asgi import request_body
from tests.support.polling import until


@dataclass(frozen=True)
class Callback:
    """One request the receiver got."""

    method: str
    path: str
    headers: dict[str, str]
    """Lower-case names; a repeated header keeps its last value."""
    body: bytes
    sender: int | None = None
    """The pid of the process that sent it, if it is one of the receiver's ``senders``."""


@dataclass
class Receiver:
    """Records every request and answers 200; ``calls`` is appended from uvicorn's thread.

    Each connection's peer is looked up among ``senders`` (pids) when it first sends, so a test can
    tell which process delivered a callback.
    """

    calls: list[Callback] = field(default_factory=list)
    senders: list[int] = field(default_factory=list)
    _owners: dict[tuple[str, int], int | None] = field(default_factory=dict)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        body = await request_body(receive)
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        self.calls.append(Callback(scope["method"], scope["path"], headers, body, self._sender(scope)))
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    def _sender(self, scope: Scope) -> int | None:
        peer, server = scope["client"], scope["server"]
        key = (peer[0], peer[1])
        if key not in self._owners:  # once per connection: the peer's socket is open while it sends
            self._owners[key] = socket_owner(peer[1], server[1], self.senders)
        return self._owners[key]

    def by_call_id(self) -> dict[str, list[Callback]]:
        """The callbacks grouped by their ``X-Call-Id``."""
        grouped: dict[str, list[Callback]] = {}
        for call in list(self.calls):
            grouped.setdefault(call.headers.get("x-call-id", ""), []).append(call)
        return grouped


class ReceiverServer:
    """Serves a receiver under uvicorn in a thread; it can go down and come back at the same URL.

    A bound socket that never listens holds the port while the server is down, so connections are
    refused (as when a receiver is down) and no other server can take the port meanwhile.
    """

    def __init__(self, receiver: ASGIApp) -> None:
        self._receiver = receiver
        self._reserved = _reusable()
        self._reserved.bind(("127.0.0.1", 0))
        self.port: int = self._reserved.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._listening: socket.socket | None = None

    def start(self) -> None:
        """Listen and serve; returns once uvicorn has started."""
        sock = _reusable()
        sock.bind(("127.0.0.1", self.port))
        sock.listen(128)
        self._listening = sock
        config = uvicorn.Config(self._receiver, log_config=None, access_log=False, lifespan="off", loop="asyncio")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._server, self._thread = server, thread
        thread.start()
        until(lambda: server.started or None, within=10)

    def stop(self) -> None:
        """Stop serving: from now on connections are refused."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)
        if self._listening is not None:
            self._listening.close()  # uvicorn closes it too; a server that failed to start may not have
        self._server, self._thread, self._listening = None, None, None

    def close(self) -> None:
        """Stop and give the port back."""
        self.stop()
        self._reserved.close()


def _reusable() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return sock


@contextmanager
def serving(receiver: ASGIApp) -> Iterator[str]:
    """Serve ``receiver`` on a loopback socket in a thread; yields its base URL."""
    server = ReceiverServer(receiver)
    try:
        server.start()
        yield server.url
    finally:
        server.close()


def socket_owner(local_port: int, remote_port: int, pids: list[int]) -> int | None:
    """Which of ``pids`` holds the loopback TCP socket ``local_port`` → ``remote_port`` (Linux /proc)."""
    inode = _inode(local_port, remote_port)
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    for pid in pids:
        with contextlib.suppress(OSError):
            if any(os.readlink(fd) == target for fd in Path(f"/proc/{pid}/fd").iterdir()):
                return pid
    return None


def _inode(local_port: int, remote_port: int) -> str | None:
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16)
        if (local, remote) == (local_port, remote_port):
            return fields[9]
    return None
