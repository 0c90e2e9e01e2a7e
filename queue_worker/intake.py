"""The queue's intake: calls taken from its consumers, one per priority, high first.

A queue has three durable pull consumers (:func:`subscribe` makes sure they exist), one per
:class:`~calls.flow.Priority`, each filtering that priority's subjects
(:func:`calls.wire.queue_filters`). :meth:`Intake.take`
asks for calls in order of priority with pull requests that do not wait (``no_wait``), so
a high-priority call published behind thousands of others is the next one taken. A
priority found empty keeps one waiting pull request (for one call, expiring after
``poll`` seconds) out on the server, so a call published there is seen at once without
asking again; a call it brings while every slot is busy is held here until there is one.

Lower priorities are not starved: every call taken from a higher priority puts
``share`` (10%) of a call to each lower one's credit, and a whole call of credit is taken
before the higher priorities are asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Mapping

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import AckPolicy, ConsumerConfig, Header, StatusCode
from nats.js.errors import NotFoundError

from calls.flow import Priority
from calls.streams import ensure_stream
from calls.wire import queue_filters
from queue_worker.config import WorkerSettings

__all__ = ["Intake", "PullConsumer", "subscribe"]

logger = logging.getLogger(__name__)

_POLL = 0.5
"""Seconds a waiting pull request lasts; short, so that a stop is noticed soon."""
_SHARE = 0.1
"""Of the calls taken from higher priorities, the share owed to each lower one."""
_MARGIN = 1.0
"""Seconds a pull request's end may come after it expires before it is given up on."""
_HEARTBEAT = StatusCode.CONTROL_MESSAGE


class PullConsumer:
    """Pull requests to one durable consumer, on an inbox of its own, one request at a time.

    What comes to the inbox is put in a box of its own by the subscription's callback: nats-py's
    ``next_msg`` starts two tasks and makes a uuid for every message.

    Args:
        nc: the connection.
        stream: the consumer's stream.
        name: the consumer's name.
    """

    def __init__(self, nc: Client, stream: str, name: str) -> None:
        self._nc = nc
        self._next = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{name}"
        self._inbox = nc.new_inbox()
        self._sub: Subscription | None = None
        self._box: deque[Msg] = deque()
        self._came = asyncio.Event()
        self.name = name

    async def start(self) -> None:
        """Subscribe to the inbox the calls come to."""
        self._sub = await self._nc.subscribe(self._inbox, cb=self._receive)

    async def _receive(self, msg: Msg) -> None:
        self._box.append(msg)
        self._came.set()

    async def close(self) -> None:
        """Unsubscribe (after the last request ended: a call delivered later would wait for its ``ack_wait``)."""
        if self._sub is not None:
            with contextlib.suppress(nats.errors.Error):
                await self._sub.unsubscribe()

    async def pull(self, batch: int, wait: float | None) -> list[Msg]:
        """Up to ``batch`` calls there now (``wait`` None), or the first one to come within ``wait`` seconds.

        Raises:
            nats.errors.Error: the request could not be sent.
        """
        if self._sub is None:
            raise RuntimeError("PullConsumer.start() has not run")
        request: dict[str, object] = {"batch": batch}
        if wait is None:
            request["no_wait"] = True
        else:
            request["expires"] = int(wait * 1e9)
        await self._nc.publish(self._next, json.dumps(request).encode(), reply=self._inbox)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (wait or 0.0) + _MARGIN
        alarm = loop.call_at(deadline, self._came.set)
        try:
            return await self._taken(batch, deadline, loop)
        finally:
            alarm.cancel()

    async def _taken(self, batch: int, deadline: float, loop: asyncio.AbstractEventLoop) -> list[Msg]:
        taken: list[Msg] = []
        while len(taken) < batch:
            if not self._box:
                if loop.time() >= deadline:
                    break  # the request's end was lost (a reconnect): ask again
                self._came.clear()
                await self._came.wait()
                continue
            msg = self._box.popleft()
            status = msg.headers.get(Header.STATUS) if msg.headers else None
            if status is None:
                taken.append(msg)
            elif status != _HEARTBEAT:
                if status not in (StatusCode.NO_MESSAGES, StatusCode.REQUEST_TIMEOUT):
                    description = msg.headers.get(Header.DESCRIPTION, "") if msg.headers else ""
                    logger.warning("consumer %s answered a pull with %s %s", self.name, status, description)
                break  # the request ended
        return taken


class Intake:
    """Takes calls from a queue's consumers in order of priority.

    Args:
        consumers: one per priority the queue has.
        poll: seconds a waiting pull request lasts.
    """

    def __init__(self, consumers: Mapping[Priority, PullConsumer], poll: float) -> None:
        self._levels = sorted(consumers, key=lambda level: level.rank)
        self._consumers = consumers
        self._poll = poll
        self._owed = dict.fromkeys(self._levels, 0.0)
        self._waiting: dict[Priority, asyncio.Task[list[Msg]]] = {}
        self._held: dict[Priority, deque[Msg]] = {level: deque() for level in self._levels}

    def held(self) -> list[Msg]:
        """Calls taken and not handed out yet (a busy worker's waiting requests brought them)."""
        return [msg for line in self._held.values() for msg in line]

    async def take(self, wanted: int) -> list[Msg]:
        """Up to ``wanted`` calls, in the order to start them; waits up to ``poll`` seconds when there are none.

        Raises:
            nats.errors.Error: a request could not be sent (the connection is down).
        """
        taken = await self._ask(wanted)
        if not taken:
            await self._wait()
            taken = await self._ask(wanted)
        return taken

    async def _ask(self, wanted: int) -> list[Msg]:
        self._collect()
        taken: list[Msg] = []
        owed = [(level, int(self._owed[level])) for level in self._levels if self._owed[level] >= 1.0]
        for level, most in [*owed, *((level, wanted) for level in self._levels)]:
            want = min(most, wanted - len(taken))
            if want <= 0:
                continue
            got = self._from_held(level, want)
            if len(got) < want and level not in self._waiting:
                more = await self._consumers[level].pull(want - len(got), None)
                got += more
                if len(got) < want:  # none left there: a waiting request watches for the next
                    self._owed[level] = 0.0
                    self._watch(level)
            self._owed[level] = max(0.0, self._owed[level] - len(got))
            for lower in self._levels:
                if lower.rank > level.rank:
                    self._owed[lower] += len(got) * _SHARE
            taken += got
        return taken

    def _watch(self, level: Priority) -> None:
        """Send ``level`` a waiting request for one call, which :meth:`_collect` picks up once it ends."""
        self._waiting[level] = asyncio.create_task(self._consumers[level].pull(1, self._poll))

    def _from_held(self, level: Priority, want: int) -> list[Msg]:
        line = self._held[level]
        return [line.popleft() for _ in range(min(want, len(line)))]

    def _collect(self) -> None:
        """Hold what the waiting requests that ended brought."""
        for level, task in list(self._waiting.items()):
            if task.done():
                del self._waiting[level]
                if task.cancelled():
                    continue
                if (error := task.exception()) is not None:
                    logger.warning("waiting for calls of priority %s failed: %s", level.value, error)
                    continue
                self._held[level].extend(task.result())

    async def _wait(self) -> None:
        """Wait for a waiting request to bring a call, for up to ``poll`` seconds."""
        loop = asyncio.get_running_loop()
        until = loop.time() + self._poll
        while not any(self._held.values()) and (left := until - loop.time()) > 0:
            for level in self._levels:
                if level not in self._waiting:  # its last request ended empty
                    self._watch(level)
            await asyncio.wait(list(self._waiting.values()), timeout=left, return_when=asyncio.FIRST_COMPLETED)
            self._collect()

    async def close(self) -> list[Msg]:
        """Let the waiting requests end; every call taken and not handed out (to be handed back)."""
        if self._waiting:
            await asyncio.wait(list(self._waiting.values()))
        self._collect()
        left = self.held()
        for line in self._held.values():
            line.clear()
        for consumer in self._consumers.values():
            await consumer.close()
        return left


async def subscribe(nc: Client, settings: WorkerSettings) -> Intake:
    """Make sure the stream and this queue's durable consumers exist (updated to ``settings``); take calls from them.

    One consumer per priority: ``<group>-<queue>`` for normal calls, ``<group>-<queue>-high`` and
    ``-low`` for the others. An existing stream is left as it is: its duplicate window is the gateway's setting.
    """
    js = nc.jetstream()
    stream = settings.faas_nats_channel
    try:
        await js.stream_info(stream)
    except NotFoundError:  # the worker started before any gateway: create it as a gateway would
        await ensure_stream(js, stream, replicas=settings.nats_stream_replicas, schedules=settings.message_schedules)
    consumers: dict[Priority, PullConsumer] = {}
    for priority in Priority:
        name = settings.durable if priority is Priority.NORMAL else f"{settings.durable}-{priority.value}"
        config = ConsumerConfig(
            durable_name=name,
            name=name,
            filter_subjects=queue_filters(stream, settings.queue, priority),
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=settings.ack_wait.total_seconds(),
            max_ack_pending=settings.max_ack_pending,
            # Every process of the queue pulls at once, each with one request out at a time.
            max_waiting=512,
        )
        await js.add_consumer(stream, config)  # creates it, or updates the editable fields of an existing one
        consumers[priority] = PullConsumer(nc, stream, name)
        await consumers[priority].start()
    return Intake(consumers, poll=_POLL)
