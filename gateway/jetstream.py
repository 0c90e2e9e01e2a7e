"""The gateway's one NATS connection: the :class:`NatsLink` seam and its JetStream implementation."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, replace
from typing import Any, BinaryIO, Protocol

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext

from calls.bodies import Bodies
from calls.streams import StreamConfigError, ensure_stream
from calls.wire import QueuedCall, scheduled
from gateway.config import GatewaySettings
from gateway.errors import BodyTooLarge, HeadersTooLarge, QueueUnavailable
from plumbing.nats_client import NatsClient, header_block

__all__ = [
    "MAX_HEADER_BYTES",
    "JetStreamLink",
    "NatsLink",
    "Receipt",
    "check_fits",
    "header_size",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Receipt:
    """JetStream's acknowledgement of one call."""

    stream: str
    seq: int
    duplicate: bool = False


class NatsLink(Protocol):
    """The gateway's one connection to NATS: it stores calls, and lends its JetStream context to the stores.

    ``startup`` runs before the first ``publish``, ``shutdown`` after the last.
    """

    @property
    def max_payload(self) -> int:
        """The largest message (headers and body) the queue accepts, in bytes."""

    def jetstream(self) -> JetStreamContext:
        """The JetStream context the call, batch and dead-letter stores share.

        Raises:
            QueueUnavailable: there is none (not connected).
        """

    async def bodies(self) -> Bodies:
        """The bucket of bodies too large for a message (:mod:`calls.bodies`), opened on first use.

        Raises:
            QueueUnavailable: not connected to NATS.
            calls.streams.StreamConfigError: JetStream refuses the bucket.
        """

    async def startup(self) -> None:
        """Connect and make sure the calls' stream exists."""

    async def shutdown(self) -> None:
        """Close the connection."""

    async def publish(
        self,
        subject: str,
        call: QueuedCall,
        timeout: float,  # noqa: ASYNC109 - the ack deadline is part of the contract
        body: BinaryIO | None = None,
    ) -> Receipt:
        """Store ``call`` on ``subject`` and return once the stream acknowledged it.

        A body too large for one message goes to the body bucket first (:mod:`calls.bodies`), and the
        message names it: ``body``, a large body read into a file, always does (``call.body`` is then empty).

        Raises:
            HeadersTooLarge: the call's headers would be over JetStream's limit.
            QueueUnavailable: it was not stored, or no acknowledgement came within ``timeout`` seconds.
        """


MAX_HEADER_BYTES = 64 * 1024
"""The most bytes of headers JetStream stores with a message (beyond: err_code 10097)."""


def header_size(headers: dict[str, str]) -> int:
    """Bytes a message's header block takes on the wire."""
    return len(header_block(headers))


def check_fits(call: QueuedCall, headers: dict[str, str], max_payload: int) -> None:
    """Refuse a call NATS would refuse: headers over JetStream's limit, or a message over ``max_payload``.

    Raises:
        HeadersTooLarge: the call's headers take more than :data:`MAX_HEADER_BYTES` on the queue.
        BodyTooLarge: headers and body together are over ``max_payload``.
    """
    # A cheap upper bound first: UTF-8 takes at most two bytes per character of a latin-1 decoded value.
    bound = 16 + 4 * len(headers) + sum(map(len, headers)) + 2 * sum(map(len, headers.values()))
    if bound <= MAX_HEADER_BYTES and bound + len(call.body) <= max_payload:
        return
    size = header_size(headers)
    if size > MAX_HEADER_BYTES:
        raise HeadersTooLarge(
            f"request headers take {size} bytes on the queue, over JetStream's limit of {MAX_HEADER_BYTES}",
            call_id=call.call_id,
        )
    if size + len(call.body) > max_payload:
        # The server would close the connection on an oversize message, failing every call in flight.
        raise BodyTooLarge(
            f"request body and headers are over the queue's message limit of {max_payload} bytes",
            call_id=call.call_id,
        )


class JetStreamLink:
    """A :class:`NatsLink` over one NATS connection that reconnects forever.

    Args:
        settings: the NATS address, stream, duplicate window and reconnect delay come from here.
    """

    def __init__(self, settings: GatewaySettings) -> None:
        self._settings = settings
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._bodies: Bodies | None = None
        self._closing = False

    @property
    def max_payload(self) -> int:
        """The connected server's ``max_payload``."""
        return self._nc.max_payload if self._nc is not None else 0

    def jetstream(self) -> JetStreamContext:
        """The JetStream context, once connected."""
        if self._js is None:
            raise QueueUnavailable("not connected to NATS")
        return self._js

    async def startup(self) -> None:
        """Connect, then create or update the stream.

        Raises:
            QueueUnavailable: no connection to NATS within ``nats_connect_timeout``.
            calls.streams.StreamConfigError: the stream exists with a configuration that cannot be changed.
        """
        settings = self._settings
        options: dict[str, Any] = dict(  # noqa: C408 - keyword names, as connect() spells them
            servers=settings.nats_urls,
            name="faasq-gateway",
            max_reconnect_attempts=-1,
            # nats-py annotates it int, but sleeps on it: fractions of a second work.
            reconnect_time_wait=settings.faas_reconnect_delay.total_seconds(),
            # No buffering while reconnecting: a call that cannot be sent now fails now (503), and is
            # never sent later behind the back of a caller who was told it failed.
            pending_size=0,
            # Subjects are '<stream>.<queue>' from validated names, and inboxes nats-py's own: checking
            # them again on every publish costs more than the rest of the enqueue's bookkeeping.
            skip_subject_validation=True,
            error_cb=_log_error,
            disconnected_cb=self._disconnected,
            reconnected_cb=_log_reconnected,
        )
        client = NatsClient()
        connect = client.connect(**options)
        within = settings.nats_connect_timeout.total_seconds()
        try:
            async with asyncio.timeout(within):
                await connect
                self._nc = client
        except TimeoutError:
            raise QueueUnavailable(f"cannot connect to NATS at {settings.nats_url} within {within:g}s") from None
        self._js = self._nc.jetstream()
        window = settings.nats_duplicate_window.total_seconds()
        await ensure_stream(
            self._js,
            settings.faas_nats_channel,
            duplicate_window=window,
            replicas=settings.nats_stream_replicas,
            schedules=settings.message_schedules,
        )
        logger.info("connected to %s, stream %r ready", settings.nats_url, settings.faas_nats_channel)

    async def shutdown(self) -> None:
        """Close the connection (pending publishes are flushed)."""
        self._closing = True
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.close()

    async def _disconnected(self) -> None:
        if not self._closing:
            logger.warning("NATS: disconnected; async calls are refused until it reconnects")

    async def publish(
        self,
        subject: str,
        call: QueuedCall,
        timeout: float,  # noqa: ASYNC109
        body: BinaryIO | None = None,
    ) -> Receipt:
        """Publish ``call`` and wait for the stream's acknowledgement."""
        if self._nc is None or self._js is None or not self._nc.is_connected:
            raise QueueUnavailable("Error queuing request: not connected to NATS", call_id=call.call_id)
        # The message is checked before a body goes to the body bucket: headers it refuses leave nothing there.
        stored: bytes | BinaryIO | None = body
        if body is not None:
            call = replace(call, body_object=call.call_id)
        target, headers = _message(call, subject)
        try:
            try:
                check_fits(call, headers, self._nc.max_payload)
            except BodyTooLarge:
                stored = call.body
                call = replace(call, body=b"", body_object=call.call_id)
                target, headers = _message(call, subject)
                check_fits(call, headers, self._nc.max_payload)
            if stored is not None:
                await (await self.bodies()).put(call.call_id, stored)
            ack = await self._js.publish(target, call.body, timeout=timeout, headers=headers)
        except nats.errors.TimeoutError:
            reason = f"no acknowledgement from JetStream within {timeout:g}s"
        except nats.js.errors.NoStreamResponseError:
            reason = f"no stream stores subject {target!r}"
        except (nats.errors.Error, OSError, StreamConfigError) as exc:
            reason = str(exc) or type(exc).__name__
        else:
            return Receipt(ack.stream, ack.seq, bool(ack.duplicate))
        raise QueueUnavailable(f"Error queuing request: {reason}", call_id=call.call_id)

    async def bodies(self) -> Bodies:
        """The body bucket, created or bound on first use."""
        if self._bodies is None:
            settings = self._settings
            self._bodies = await Bodies.open(
                self.jetstream(), settings.body_bucket, settings.body_max_age, settings.nats_stream_replicas
            )
        return self._bodies


def _message(call: QueuedCall, subject: str) -> tuple[str, dict[str, str]]:
    """The subject and headers that store ``call``: a delayed one's are a schedule's, which JetStream fires later."""
    if call.not_before_ns and call.not_before_ns > time.time_ns():
        return scheduled(call, subject)
    return subject, call.nats_headers()


async def _log_error(exc: Exception) -> None:
    logger.warning("NATS: %s", exc or type(exc).__name__)


async def _log_reconnected() -> None:
    logger.info("NATS: reconnected")
