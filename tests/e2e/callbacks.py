"""A real callback receiver for async calls: a small ASGI app on uvicorn, on a socket the kernel chose."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from starlette.types import Message, Receive, Scope, Send

from tests.e2e.running import until
from tests.support import bound_socket


@dataclass(frozen=True)
class Callback:
    """One request the receiver got."""

    method: str
    path: str
    headers: dict[str, str]
    """Lower-case names; a repeated header keeps its last value."""
    body: bytes


class Receiver:
    """Records every request and answers 200; ``calls`` is appended from uvicorn's thread."""

    def __init__(self) -> None:
        self.calls: list[Callback] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message: Message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        self.calls.append(Callback(scope["method"], scope["path"], headers, body))
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    def by_call_id(self) -> dict[str, list[Callback]]:
        """The callbacks grouped by their ``X-Call-Id``."""
        grouped: dict[str, list[Callback]] = {}
        for call in list(self.calls):
            grouped.setdefault(call.headers.get("x-call-id", ""), []).append(call)
        return grouped


@contextmanager
def serving(receiver: Receiver) -> Iterator[str]:
    """Serve ``receiver`` on a loopback socket in a thread; yields its base URL."""
    with bound_socket() as sock:
        config = uvicorn.Config(receiver, log_config=None, access_log=False, lifespan="off", loop="asyncio")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        try:
            until(lambda: server.started or None, within=10)
            yield f"http://127.0.0.1:{sock.getsockname()[1]}"
        finally:
            server.should_exit = True
            thread.join(10)
