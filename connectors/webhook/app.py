"""``POST /webhook/<topic>`` as a raw ASGI app: read the body (bounded), check its signature, invoke, answer.

202 when every function of the topic accepted the event; 401, 404, 405 and 413 invoke
nothing; 502 and 503 ask the sender to retry, and a retry with the same delivery id calls
only the functions that did not accept it yet (the answers: docs/connectors.md).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from starlette.types import Receive, Scope, Send

from connectors.sdk.controller import Controller
from connectors.sdk.events import Event, EventResult
from connectors.webhook.config import Route
from connectors.webhook.signatures import SignatureRejected, verify
from plumbing.headers import HOP_BY_HOP

__all__ = ["PREFIX", "BodyTooLarge", "WebhookApp", "answer", "forwarded_headers"]

logger = logging.getLogger(__name__)

PREFIX = "/webhook/"

# Set by the connector, or never to be chosen by the sender (a callback URL would be an open relay).
_NOT_FORWARDED = frozenset(name.decode() for name in HOP_BY_HOP) | frozenset(
    [
        "host",
        "content-length",
        "content-type",
        "user-agent",
        "x-call-id",
        "x-topic",
        "x-connector",
        "x-callback-url",
        "authorization",
        "cookie",
    ]
)


class BodyTooLarge(Exception):
    """The request body is over the limit."""


def forwarded_headers(headers: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The sender's headers the functions see (``X-GitHub-Event``, the signature, ...)."""
    return tuple((name, value) for name, value in headers.items() if name not in _NOT_FORWARDED)


def answer(result: EventResult) -> tuple[int, dict[str, Any]]:
    """The status and JSON body for the sender, from what came of the invocation."""
    topic = result.event.topic
    if not result.functions:
        return 404, {"error": f"no function subscribes to topic {topic!r}"}
    calls = {delivery.function: delivery.call_id for delivery in result.deliveries if delivery.accepted}
    if result.done:
        return 202, {"topic": topic, "event": result.event.id, "accepted": list(result.accepted), "calls": calls}
    failed = {delivery.function: delivery.status or delivery.error for delivery in result.failed}
    status = 503 if all(delivery.status is None for delivery in result.failed) else 502
    body = {"error": result.describe_failure(), "accepted": list(result.accepted), "failed": failed}
    return status, {"topic": topic, "event": result.event.id, **body}


async def _send_json(send: Send, status: int, body: Mapping[str, Any], extra: list[tuple[bytes, bytes]]) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


async def _error(send: Send, status: int, message: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    await _send_json(send, status, {"error": message}, extra or [])


async def _read_body(receive: Receive, declared: str | None, limit: int) -> bytes:
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionResetError("the sender went away")
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class WebhookApp:
    """The webhook connector's HTTP front: ``POST /webhook/<topic>`` and ``GET /healthz``.

    Args:
        routes: the configured topics.
        controller: invokes the functions of a topic.
        max_body_bytes: the body limit.
        clock: unix time, for Stripe's and Slack's timestamps.
    """

    def __init__(
        self,
        routes: Mapping[str, Route],
        controller: Controller,
        *,
        max_body_bytes: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._routes = routes
        self._controller = controller
        self._limit = max_body_bytes
        self._clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one HTTP request."""
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path == "/healthz":
            await _send_json(send, 200, {"status": "ok", "topics": sorted(self._routes)}, [])
        elif not path.startswith(PREFIX):
            await _error(send, 404, f"no route {path}: POST {PREFIX}<topic>")
        elif scope["method"] != "POST":
            await _error(send, 405, "use POST", [(b"allow", b"POST")])
        else:
            await self._webhook(path.removeprefix(PREFIX), scope, receive, send)

    async def _webhook(self, topic: str, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._routes.get(topic)
        if route is None:
            await _error(send, 404, f"unknown topic {topic!r}")
            return
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
        try:
            body = await _read_body(receive, headers.get("content-length"), self._limit)
            verify(route.verifier, headers, body, self._clock())
        except BodyTooLarge:
            await _error(send, 413, f"the body is over the limit of {self._limit} bytes")
            return
        except SignatureRejected as exc:
            logger.warning("refused a webhook for %s: %s", topic, exc)
            await _error(send, 401, f"signature check failed: {exc}")
            return
        event_id = headers.get(route.event_id_header)
        event = Event(
            topic,
            body,
            f"{topic}:{event_id}" if event_id else uuid.uuid4().hex,
            headers.get("content-type"),
            forwarded_headers(headers),
        )
        status, reply = answer(await self._controller.invoke(event))
        await _send_json(send, status, reply, [])
