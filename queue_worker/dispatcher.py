"""The callback sender: delivers pending callbacks with its own concurrency, never in a run slot.

The callback of a run that just ended (:meth:`CallbackDispatcher.deliver`) is POSTed at
once, before the run's message is settled; once it is delivered, or stored on the stream
because its POST failed, the run is settled. A callback held by the worker that ran its
call (:meth:`CallbackDispatcher.hand`) is POSTed at once when its host has room; otherwise,
or when that POST fails, it is handed over to the stream. Pending callbacks on the stream
(:mod:`queue_worker.outbox`) come from their own durable consumer, shared by every worker
process. Each is queued behind its host (``host:port`` of its URL), in order: at most
``callback_concurrency`` POSTs at once in all, ``callback_per_host`` to one host. A POST
that fails is tried again from the front of its host's line after a backoff
(``callback_initial_wait`` doubling to ``callback_max_wait``), up to ``callback_attempts``
POSTs; after five failures in a row a host's circuit opens: its callbacks wait, in order,
and after the cool-down one POST probes it (the cool-down doubles while it keeps failing).
A callback is acked once delivered or given up on; one that cannot be delivered is handed
to the hooks (a dead letter of kind ``callback``, the call's ``callback_error``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig

from calls.bodies import BodyMissing
from calls.streams import ensure_callback_stream
from calls.wire import MalformedCall
from plumbing.logs import current_call_id
from queue_worker.callback import HttpCallbackSender
from queue_worker.config import WorkerSettings
from queue_worker.consumer import quietly
from queue_worker.hooks import WorkerHooks
from queue_worker.outbox import FinishedRun, Outbox, PendingCallback

__all__ = ["CallbackDispatcher", "subscribe_callbacks"]

logger = logging.getLogger(__name__)

_POLL = 0.5
_BREAK_AFTER = 5
"""Failures in a row that open a host's circuit."""
_LOCAL_LINE = 4
"""A host's line holds up to this many times ``callback_per_host`` callbacks held by this worker."""


def _host_of(pending: PendingCallback) -> str:
    """The ``host:port`` a callback goes to: callbacks are lined up, limited and broken off by it."""
    return urlsplit(pending.call.callback_url or "").netloc.lower()


async def subscribe_callbacks(js: JetStreamContext, settings: WorkerSettings) -> JetStreamContext.PullSubscription:
    """Make sure the stream of pending callbacks and its durable consumer exist; bind to it."""
    stream = settings.callback_stream
    await ensure_callback_stream(js, stream, replicas=settings.nats_stream_replicas)
    durable = f"{settings.faas_nats_queue_group}-callbacks"
    config = ConsumerConfig(
        durable_name=durable,
        name=durable,
        filter_subject=f"{stream}.*",  # not the callbacks held by their workers (<stream>.=held.<call>)
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=settings.ack_wait.total_seconds(),
        max_ack_pending=-1,
        max_waiting=512,
    )
    await js.add_consumer(stream, config)
    return await js.pull_subscribe_bind(durable=durable, stream=stream)


@dataclass(eq=False)
class _Entry:
    msg: Msg | None
    """Its message, taken from the stream; None for a callback held by this worker."""
    pending: PendingCallback
    held: int = 0
    """The sequence of a callback held by this worker: deleted once it is delivered or handed over."""
    run: FinishedRun | None = None
    """The run whose callback this is, not settled yet: settled once the callback is delivered or stored."""
    started: float = field(default_factory=time.perf_counter)
    tries: int = 0
    due: float = 0.0
    """Not tried again before this (monotonic seconds)."""


@dataclass(eq=False)
class _Host:
    line: deque[_Entry] = field(default_factory=deque)
    posting: int = 0
    failures: int = 0
    """Failures in a row."""
    cooldown: float = 0.0
    open_until: float = 0.0
    timer: asyncio.TimerHandle | None = None


class CallbackDispatcher:
    """Delivers the pending callbacks of one subscription.

    Args:
        sub: the bound pull subscription (see :func:`subscribe_callbacks`).
        sender: POSTs one callback.
        hooks: told of a callback that could not be delivered.
        settings: the callback settings and ``ack_wait``.
        outbox: hands a held callback over to the stream.
    """

    def __init__(
        self,
        sub: JetStreamContext.PullSubscription,
        sender: HttpCallbackSender,
        hooks: WorkerHooks,
        settings: WorkerSettings,
        outbox: Outbox,
    ) -> None:
        self._sub = sub
        self._outbox = outbox
        self._sender = sender
        self._hooks = hooks
        self._concurrency = settings.callback_concurrency
        self._per_host = settings.callback_per_host
        self._backlog = settings.callback_backlog
        self._attempts = settings.callback_attempts
        self._first_wait = settings.callback_initial_wait.total_seconds()
        self._max_wait = settings.callback_max_wait.total_seconds()
        self._heartbeat_every = settings.ack_wait.total_seconds() / 3
        self._pause = settings.faas_reconnect_delay.total_seconds()
        self._hosts: dict[str, _Host] = {}
        self._held: set[_Entry] = set()
        self._runs: set[_Entry] = set()
        self._posting = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._room = asyncio.Event()
        self._stopping = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        """Looked up once: each ``asyncio.get_running_loop()`` is a system call in Python 3.11."""
        self.delivered = 0
        self.undelivered = 0

    def stop(self) -> None:
        """Stop taking callbacks; :meth:`run` then lets the POSTs under way end and hands the rest back."""
        self._stopping.set()
        self._room.set()

    async def run(self, grace: float) -> None:
        """Take and deliver callbacks until :meth:`stop`."""
        self._loop = asyncio.get_running_loop()
        heartbeat = self._loop.create_task(self._heartbeat())
        try:
            await self._fetch_loop()
            await self._wind_down(self._loop.time() + grace)
        finally:
            heartbeat.cancel()
            await self._let_go()

    async def _wind_down(self, deadline: float) -> None:
        """Store the runs' callbacks still in line for the other senders; let the POSTs under way end."""
        for host in self._hosts.values():
            for entry in [entry for entry in host.line if entry.run is not None]:
                host.line.remove(entry)
                self._spawn(self._hand_over(entry))
        loop = self._loop or asyncio.get_running_loop()
        while self._tasks and (left := deadline - loop.time()) > 0:  # and what they start
            await asyncio.wait(list(self._tasks), timeout=left)

    async def _let_go(self) -> None:
        """Cancel what is left, and hand the callbacks taken back: to another sender, or the run to another worker."""
        for host in self._hosts.values():
            if host.timer is not None:
                host.timer.cancel()
        for task in list(self._tasks):
            task.cancel()
        for entry in list(self._held):
            if entry.msg is not None and not entry.msg._ackd:  # nats-py has no public 'settled' flag
                await quietly(entry.msg.nak())  # another worker's sender takes it up at once
        for entry in list(self._runs):  # neither delivered nor stored: the call runs again
            if entry.run is not None and not entry.run.msg._ackd:
                await quietly(entry.run.msg.nak())

    async def _fetch_loop(self) -> None:
        while not self._stopping.is_set():
            room = self._backlog - len(self._held)
            if room <= 0:
                self._room.clear()
                await self._room.wait()
                continue
            for msg in await self._fetch(min(room, 64)):
                await self._take(msg)

    async def _fetch(self, batch: int) -> list[Msg]:
        try:
            return await self._sub.fetch(batch, timeout=_POLL)
        except TimeoutError:
            return []
        except nats.errors.Error as exc:
            logger.warning("fetching callbacks failed (%s); retrying in %gs", exc or type(exc).__name__, self._pause)
            await asyncio.sleep(self._pause)
            return []

    async def _take(self, msg: Msg) -> None:
        try:
            pending = await self._outbox.read(msg)
        except (MalformedCall, ValueError, KeyError) as exc:
            logger.error("terminating a malformed pending callback: %s", exc)
            await quietly(msg.term())
            await self._outbox.settled(msg)
            return
        except BodyMissing as exc:  # delivered by the worker that held it, or expired
            logger.warning("terminating a pending callback whose body is gone: %s", exc)
            await quietly(msg.term())
            return
        except nats.errors.Error as exc:
            logger.warning("a pending callback's body could not be read (%s); trying again later", exc)
            await quietly(msg.nak(delay=self._pause))
            return
        entry = _Entry(msg, pending, tries=pending.tries)
        self._held.add(entry)
        self._line_up(_host_of(pending), entry)

    def deliver(self, pending: PendingCallback, run: FinishedRun) -> bool:
        """Deliver the callback of ``run``, in its host's line, and settle the run once it is delivered or stored.

        Returns:
            False, and nothing is done, when its host's circuit is open or its line is long, or the
            sender is stopping: the callback is then to be held (:meth:`hand`).
        """
        name = _host_of(pending)
        if self._crowded(name):
            return False
        entry = _Entry(None, pending, run=run)
        self._runs.add(entry)
        self._line_up(name, entry)
        return True

    def hand(self, pending: PendingCallback, held: int) -> None:
        """Deliver a callback held by this worker (at ``held`` in the stream), in its host's line.

        It goes to the stream instead when its host's circuit is open, its line is long (it
        must go out well before it falls due), or the sender is stopping.
        """
        name = _host_of(pending)
        entry = _Entry(None, pending, held=held)
        if self._crowded(name):
            self._spawn(self._hand_over(entry))
            return
        self._line_up(name, entry)

    def _crowded(self, name: str) -> bool:
        host = self._hosts.get(name)
        if host is not None and (host.failures >= _BREAK_AFTER or len(host.line) >= _LOCAL_LINE * self._per_host):
            return True
        return self._stopping.is_set()

    def _line_up(self, name: str, entry: _Entry) -> None:
        """Put ``entry`` at the end of its host's line, and start what the line may start."""
        self._hosts.setdefault(name, _Host()).line.append(entry)
        self._pump(name)

    def _spawn(self, work: Coroutine[None, None, None]) -> None:
        task = (self._loop or asyncio.get_running_loop()).create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _hand_over(self, entry: _Entry) -> None:
        """Store a callback for every sender, then delete the held one, or settle its run.

        If it cannot be stored, a held one falls due later; a run's is tried again here after a
        backoff (at a stop, its call runs again).
        """
        call_id = entry.pending.call.call_id
        try:
            await self._outbox.store(replace(entry.pending, tries=entry.tries))
            if entry.run is None:
                await self._outbox.release(entry.held)
        except nats.errors.Error as exc:
            if entry.run is None:
                logger.warning("call %s: callback not handed over (%s); it falls due later", call_id, exc)
            elif self._stopping.is_set():
                logger.warning("call %s: callback not handed over (%s); the call runs again", call_id, exc)
                self._runs.discard(entry)
                await quietly(entry.run.msg.nak())
            else:
                logger.warning("call %s: callback not handed over (%s); trying it again", call_id, exc)
                entry.due = time.monotonic() + self._backoff(max(1, entry.tries))
                self._line_up(_host_of(entry.pending), entry)
            return
        if entry.run is not None:
            self._runs.discard(entry)
            await entry.run.settle(None, False)

    def _pump(self, name: str) -> None:
        """Start what ``name``'s line may start now; come back when its circuit or its first callback is due."""
        host = self._hosts.get(name)
        if host is None:
            return
        now = time.monotonic()
        while host.line and host.posting < self._per_host and self._posting < self._concurrency:
            probing = host.failures >= _BREAK_AFTER
            wake = max(host.open_until if probing else 0.0, host.line[0].due)
            if wake > now:
                self._come_back(name, host, wake - now)
                return
            if probing and host.posting:  # a circuit half open: one POST probes it
                return
            entry = host.line.popleft()
            if entry.msg is None and time.perf_counter() - entry.started > self._outbox.hold_for / 2:
                self._spawn(self._hand_over(entry))  # held here too long: it must not fall due while it is POSTed
                continue
            host.posting += 1
            self._posting += 1
            self._spawn(self._deliver(host, entry))
        if not host.line and not host.posting:
            if host.timer is not None:
                host.timer.cancel()
            self._hosts.pop(name, None)

    def _come_back(self, name: str, host: _Host, delay: float) -> None:
        if host.timer is not None:
            host.timer.cancel()
        host.timer = (self._loop or asyncio.get_running_loop()).call_later(delay, self._pump, name)

    def _pump_all(self) -> None:
        for name in list(self._hosts):
            if self._posting >= self._concurrency:
                return
            self._pump(name)

    async def _deliver(self, host: _Host, entry: _Entry) -> None:
        pending = entry.pending
        current_call_id.set(pending.call.call_id)  # this task's own context
        try:
            failure, result, retryable = await self._sender.post_once(pending.call, pending.outcome, pending.attempt)
        finally:
            host.posting -= 1
            self._posting -= 1
        entry.tries += 1
        if failure is None or not retryable:
            if failure is None:
                host.failures, host.cooldown = 0, 0.0
            await self._finish(entry, failure, result)
        else:
            self._failed(host)
            if entry.tries >= self._attempts:
                reason = f"callback failed {entry.tries} times, last: {failure}"
                logger.warning("%s (%s)", reason, pending.call.callback_url)
                await self._finish(entry, reason, "failed")
            elif entry.msg is None:  # held here or a run's: the stream has it retried
                await self._hand_over(entry)
            else:
                entry.due = time.monotonic() + self._backoff(entry.tries)
                # First in its host's line still: callbacks keep their order. The host is still
                # known: a line is let go only when nothing of it is posting, and this one was.
                host.line.appendleft(entry)
        self._pump_all()

    def _failed(self, host: _Host) -> None:
        host.failures += 1
        if host.failures >= _BREAK_AFTER:
            host.cooldown = min(self._max_wait, max(self._first_wait, host.cooldown * 2))
            host.open_until = time.monotonic() + host.cooldown

    def _backoff(self, tries: int) -> float:
        return min(self._max_wait, self._first_wait * 2.0 ** (tries - 1))

    async def _finish(self, entry: _Entry, failure: str | None, result: str) -> None:
        pending = entry.pending
        self._sender.counted(pending.call, result, time.perf_counter() - entry.started)
        if entry.msg is not None:
            self._held.discard(entry)
            self._room.set()
        if failure is None:
            self.delivered += 1
        else:
            self.undelivered += 1
        if entry.run is not None:
            self._runs.discard(entry)
            await entry.run.settle(failure, failure is None)
        elif await self._noted(pending, failure):
            await self._done_with(entry)
        elif entry.msg is not None:  # taken up again later (a held one falls due later)
            await quietly(entry.msg.nak(delay=self._max_wait))

    async def _noted(self, pending: PendingCallback, failure: str | None) -> bool:
        """Tell the hooks how the callback of a call that finished before went; False if it must be tried again."""
        call = pending.call
        if failure is None:
            try:
                await self._hooks.callback_delivered(call, pending.attempt)
            except Exception:  # only the record's note: the callback went out
                logger.exception("call %s: its delivered callback not noted on its record", call.call_id)
            return True
        try:
            await self._hooks.callback_undelivered(call, pending.attempt, pending.outcome, failure)
        except Exception:  # its dead letter not stored: the callback is taken up again later
            logger.exception("call %s: its undelivered callback was not recorded", call.call_id)
            return False
        return True

    async def _done_with(self, entry: _Entry) -> None:
        """Ack a callback taken from the stream, or delete a held one."""
        if entry.msg is not None:
            await quietly(entry.msg.ack())
            await self._outbox.settled(entry.msg)
            return
        try:
            await self._outbox.release(entry.held)
        except nats.errors.Error as exc:  # it falls due later and goes out once more
            logger.warning("call %s: delivered callback not released: %s", entry.pending.call.call_id, exc)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_every)
            for entry in list(self._held):
                if entry.msg is not None and not entry.msg._ackd:
                    await quietly(entry.msg.in_progress())
            for entry in list(self._runs):
                if entry.run is not None and not entry.run.msg._ackd:
                    await quietly(entry.run.msg.in_progress())
