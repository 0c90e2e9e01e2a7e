"""``GET /metrics``: every series of the stack, and the two gauges read when scraped.

The counted series come from :mod:`plumbing.metrics` (this process's, or every process's of
a ``faasq up`` stack). Read at scrape time: ``gateway_service_count`` (each function's
replicas, from the provider, as OpenFaaS's gateway reports them) and
``faasq_queue_pending_calls`` (each queue's stored, unfinished calls, from its consumer on
JetStream: not yet delivered plus delivered and not yet acknowledged, retries waiting
included). A part that cannot be read in time is left out of that scrape and logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterable

import nats.errors
from nats.js import JetStreamContext
from nats.js.api import ConsumerInfo
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from calls.metrics import SCRAPED, function_label
from gateway.errors import GatewayError
from gateway.functions import FunctionLookup
from gateway.jetstream import NatsLink
from plumbing.metrics import exposition, flush
from provider.types import DEFAULT_NAMESPACE

__all__ = ["Scraper", "pending_by_queue", "queue_of_consumer"]

logger = logging.getLogger(__name__)


def queue_of_consumer(stream: str, consumer: ConsumerInfo) -> tuple[str, str] | None:
    """The queue and the priority of the calls a worker consumer takes, or None.

    Its filter is ``<stream>.<queue>[.>]`` for normal calls, ``<stream>.<queue>=<priority>.>`` for others.
    """
    config = consumer.config
    filters = list(config.filter_subjects or []) or ([config.filter_subject] if config.filter_subject else [])
    prefix = stream + "."
    for subject in filters:
        if subject.startswith(prefix):
            queue, _, priority = subject[len(prefix) :].split(".", 1)[0].partition("=")
            return queue, priority or "normal"
    return None


class Scraper:
    """Builds the text exposition of one scrape.

    Args:
        lookup: lists every function, for their replicas.
        link: the JetStream whose consumers hold the queues.
        stream: the calls' stream.
        timeout: longest time, in seconds, each part read at scrape time may take.
    """

    def __init__(self, lookup: FunctionLookup, link: NatsLink, *, stream: str, timeout: float) -> None:
        self._lookup = lookup
        self._link = link
        self._stream = stream
        self._timeout = timeout

    async def exposition(self) -> bytes:
        """The whole scrape."""
        parts = await asyncio.gather(self._read("replicas", self._services()), self._read("queues", self._queues()))
        families = [family for family in parts if family is not None]
        flush()  # this process's latest counts, on the event loop that records them
        # Reading every process's files is file I/O: off the event loop.
        return await asyncio.to_thread(exposition, families)

    async def _read(self, what: str, reading: Awaitable[Metric]) -> Metric | None:
        try:
            async with asyncio.timeout(self._timeout):
                return await reading
        except (GatewayError, OSError, TimeoutError, ValueError) as exc:
            logger.warning("metrics: %s not read: %s", what, str(exc) or type(exc).__name__)
            return None

    async def _services(self) -> Metric:
        family = GaugeMetricFamily("gateway_service_count", SCRAPED["gateway_service_count"], labels=["function_name"])
        for function in await self._lookup.listing():
            label = function_label(function.name, function.namespace or DEFAULT_NAMESPACE)
            family.add_metric([label], function.replicas or 0)
        return family

    async def _queues(self) -> Metric:
        queues = await pending_by_queue(self._link.jetstream(), self._stream)
        family = GaugeMetricFamily("faasq_queue_pending_calls", SCRAPED["faasq_queue_pending_calls"], labels=["queue"])
        for queue, count in sorted(queues.items()):
            family.add_metric([queue], count)
        return family


async def pending_by_queue(js: JetStreamContext, stream: str) -> dict[str, int]:
    """Calls stored on each queue and not finished (waiting, running or waiting to retry), from its consumers.

    Raises:
        OSError: the consumers could not be listed.
    """
    pending: dict[tuple[str, str], int] = {}
    for consumer in await _consumers(js.consumers_info(stream)):
        level = queue_of_consumer(stream, consumer)
        if level is not None:
            count = (consumer.num_pending or 0) + (consumer.num_ack_pending or 0)
            # Consumers of one queue and priority (one per group) see the same calls: never add them up.
            pending[level] = max(pending.get(level, 0), count)
    queues: dict[str, int] = {}
    for (queue, _), count in pending.items():  # each priority holds calls of its own
        queues[queue] = queues.get(queue, 0) + count
    return queues


async def _consumers(listing: Awaitable[list[ConsumerInfo]]) -> Iterable[ConsumerInfo]:
    try:
        return await listing
    except nats.errors.Error as exc:
        raise OSError(f"cannot list the consumers: {str(exc) or type(exc).__name__}") from None
