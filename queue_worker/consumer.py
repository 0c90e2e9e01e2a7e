"""The queue's consumer: fetch calls in batches, run each in its own task, settle it by the policy's verdict.

Durable pull consumers per queue (one per priority, see :mod:`queue_worker.intake`), shared
by every worker process. The fetch loop asks for only as many calls as there are free slots
(``max_inflight``), high priority first, and a fetch that brings nothing just means "poll
again". A busy worker asks once an eighth of its slots is free, or a few milliseconds after
the first one is, rather than once for each call that ends. A single heartbeat task marks
every call that has run for a third of ``ack_wait`` as in progress, so JetStream does not
redeliver it while it runs.
A call's callback goes to the callback sender (:mod:`queue_worker.dispatcher`) as soon as
its run ends, so that no run slot waits on a callback. A call that ends with an ack is settled
by the sender, once its callback is delivered or stored for a retry; a call given up on, or
one whose callback's host is crowded or failing, is settled at once, its callback stored first.

A call under flow control first passes the :class:`~queue_worker.flow.FlowGate`. One that
may not start yet waits without a slot (up to ``max_waiting`` such calls a process); more
than that are stored again on the queue, due a little later, with the runs they made
(``Faasq-Runs``), so that waiting never counts as an attempt. A run answered 429 is not a
failed attempt either: its function's limit is lowered and the call waits again.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Literal, Protocol

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from calls.deadletters import Kind
from calls.metrics import CallMetrics, NoMetrics, function_label
from calls.outcome import Attempt, Failure, Outcome
from calls.retry_budget import RetryBudgets
from calls.retry_decision import Ack, DeadLetter, Retry, RetryPolicy, Verdict, age_out, decide, retry_after
from calls.status import CallState
from calls.timing import past_deadline
from calls.wire import MalformedCall, QueuedCall, scheduled
from plumbing.logs import current_call_id
from queue_worker.callback import CallbackSender
from queue_worker.config import WorkerSettings
from queue_worker.flow import FlowGate, Place, Refusal, Ticket
from queue_worker.hooks import WorkerHooks
from queue_worker.invoker import Invoker
from queue_worker.outbox import FinishedRun, Outbox, PendingCallback

__all__ = ["Consumer", "Handoff", "Source", "Summary", "quietly"]

logger = logging.getLogger(__name__)

_TOO_MANY = 429
_GATHER = 0.005
"""Seconds fewer free slots than are worth a pull wait for more, before they are filled anyway."""
_BACK_LATER = (1.0, 30.0)
"""Seconds until a call stored again for want of room to wait is due: a quarter of its age, within these."""


class Source(Protocol):
    """Where the consumer takes its calls from (an :class:`~queue_worker.intake.Intake`)."""

    async def take(self, wanted: int) -> list[Msg]: ...

    def held(self) -> list[Msg]: ...

    async def close(self) -> list[Msg]: ...


class Handoff(Protocol):
    """Where the consumer hands callbacks over (a :class:`~queue_worker.dispatcher.CallbackDispatcher`)."""

    def deliver(self, pending: PendingCallback, run: FinishedRun) -> bool: ...

    def hand(self, pending: PendingCallback, held: int) -> None: ...


@dataclass
class Summary:
    """What one worker did, for its closing log line."""

    done: int = 0
    retried: int = 0
    dead_lettered: int = 0
    malformed: int = 0
    callbacks_failed: int = 0
    errors: int = 0
    cancelled: int = 0
    skipped: int = 0
    waited: int = 0
    refused: int = 0

    def __str__(self) -> str:
        return (
            f"{self.done} calls done, {self.retried} retried, {self.dead_lettered} dead-lettered, "
            f"{self.malformed} malformed, {self.callbacks_failed} callbacks failed, {self.errors} errors, "
            f"{self.cancelled} cancelled at shutdown (left for redelivery), "
            f"{self.skipped} skipped (cancelled, or finished before), "
            f"{self.waited} waited for their limits, {self.refused} runs answered 429 (backpressure)"
        )


class Consumer:
    """Runs the calls of one pull subscription, up to ``max_inflight`` at once.

    Args:
        source: the queue's intake (see :func:`queue_worker.intake.subscribe`).
        settings: ``max_inflight``, ``fetch_batch``, ``ack_wait`` and ``faas_reconnect_delay`` come from here.
        invoker: runs a call's function.
        callbacks: reports a call's result.
        policy: the retry policy :func:`~calls.retry_decision.decide` applies where a call does not
            override it; by default the settings' ``retry_policy``.
        hooks: status and dead-letter extension points.
        rand: uniform random numbers in [0, 1) for the retries' jitter.
        metrics: counts the retries.
        gate: flow control; None: every call starts at once and a 429 is an ordinary failure.
        js: stores again a call that cannot wait here (with ``gate``).
        outbox: where a final run's callback is held for the callback sender; None: it is POSTed in the
            run's slot by ``callbacks``.
        handoff: the callback sender, given each callback (with ``outbox``).
    """

    def __init__(
        self,
        source: Source,
        settings: WorkerSettings,
        invoker: Invoker,
        callbacks: CallbackSender,
        policy: RetryPolicy | None = None,
        hooks: WorkerHooks | None = None,
        rand: Callable[[], float] = random.random,
        metrics: CallMetrics | None = None,
        gate: FlowGate | None = None,
        js: JetStreamContext | None = None,
        outbox: Outbox | None = None,
        handoff: Handoff | None = None,
    ) -> None:
        self._outbox = outbox
        self._handoff = handoff
        self._source = source
        self._gate = gate
        self._js = js
        self._schedules = settings.message_schedules
        self._max_waiting = settings.max_waiting
        self._waiting: set[asyncio.Task[None]] = set()
        self._running: dict[tuple[str, str], int] = {}
        self._metrics = metrics or NoMetrics()
        self._max = settings.max_inflight
        self._batch = settings.fetch_batch
        self._enough = max(1, min(self._max, self._batch) // 8)
        """Free slots worth a pull at once: a pull for each call that ends costs about as much as the call."""
        self._heartbeat_every = settings.ack_wait.total_seconds() / 3
        self._pause = settings.faas_reconnect_delay.total_seconds()
        self._invoker = invoker
        self._callbacks = callbacks
        self._policy = policy or settings.retry_policy
        self._budgets = RetryBudgets(
            settings.retry_budget, settings.retry_budget_window.total_seconds(), settings.retry_budget_min
        )
        self._hooks = hooks or WorkerHooks()
        self._rand = rand
        self._inflight: dict[asyncio.Task[None], tuple[Msg, float]] = {}
        self._slot_free = asyncio.Event()
        self._stopping = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        """Looked up once: each ``asyncio.get_running_loop()`` is a system call in Python 3.11."""
        self.summary = Summary()

    @property
    def inflight(self) -> int:
        """Calls taken and not settled: running, or waiting for their limits."""
        return len(self._inflight)

    def stop(self) -> None:
        """Stop pulling; :meth:`run` then drains the calls in flight (those waiting for their limits: stored again)."""
        self._stopping.set()
        self._slot_free.set()
        if self._gate is not None:
            self._gate.wake_all()

    async def run(self, grace: float) -> Summary:
        """Pull and run calls until :meth:`stop`, then give running calls ``grace`` seconds and cancel the rest."""
        self._loop = asyncio.get_running_loop()
        heartbeat = self._loop.create_task(self._heartbeat())
        try:
            await self._fetch_loop()
            # The intake's waiting requests end (up to a poll) while the calls in flight drain.
            closing = asyncio.create_task(self._source.close())
            await self._drain(grace)
            for msg in await closing:  # taken as the stop came: handed back for another worker
                await quietly(msg.nak())
        finally:
            heartbeat.cancel()
            # Whatever still runs (after the grace period, or because the loop failed) is cancelled
            # here, before the invoker and the callback sender close under it.
            await self._cancel_inflight()
        return self.summary

    async def _fetch_loop(self) -> None:
        loop = self._loop or asyncio.get_running_loop()
        gather_until: float | None = None
        while not self._stopping.is_set():
            free = self._max - len(self._inflight) + len(self._waiting)
            if 0 < free < self._enough:  # a few free slots: more are likely to be, very soon
                if gather_until is None:
                    gather_until = loop.time() + _GATHER
                    loop.call_at(gather_until, self._slot_free.set)
                waiting = loop.time() < gather_until
            else:
                waiting = free <= 0
            if waiting:
                self._slot_free.clear()
                await self._slot_free.wait()
                continue
            gather_until = None
            for msg in await self._fetch(min(free, self._batch)):
                self._start(msg)

    async def _fetch(self, batch: int) -> list[Msg]:
        try:
            return await self._source.take(batch)
        except nats.errors.Error as exc:  # disconnected: the client reconnects by itself
            logger.warning("fetch failed (%s); retrying in %gs", exc or type(exc).__name__, self._pause)
            await asyncio.sleep(self._pause)
            return []

    def _start(self, msg: Msg) -> None:
        # Fetched as the stop came: hand it straight back for another worker.
        work = _nak(msg) if self._stopping.is_set() else self._handle(msg)
        loop = self._loop or asyncio.get_running_loop()
        task = loop.create_task(work)
        self._inflight[task] = (msg, loop.time())
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._inflight.pop(task, None)
        self._slot_free.set()

    async def _heartbeat(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._heartbeat_every)
            due = loop.time() - self._heartbeat_every
            for msg, started in list(self._inflight.values()):
                if started <= due and not msg._ackd:  # nats-py has no public 'settled' flag
                    await quietly(msg.in_progress())
            for msg in self._source.held():  # taken, waiting for a slot
                await quietly(msg.in_progress())

    async def _drain(self, grace: float) -> None:
        if self._inflight:
            logger.info("draining %d calls in flight (up to %gs)", len(self._inflight), grace)
            if grace > 0:
                await asyncio.wait(list(self._inflight), timeout=grace)

    async def _cancel_inflight(self) -> None:
        left = dict(self._inflight)
        for task in left:
            task.cancel()
        if left:
            await asyncio.wait(list(left))
        for msg, _ in left.values():
            if not msg._ackd:
                await quietly(msg.nak())  # redelivered now rather than after ack_wait
        self.summary.cancelled += len(left)

    async def _handle(self, msg: Msg) -> None:
        try:
            call = QueuedCall.from_message(msg.headers, msg.data)
        except MalformedCall as exc:
            logger.error("terminating malformed message (stream seq %s): %s", _seq(msg), exc)
            self.summary.malformed += 1
            await msg.term()
            return
        current_call_id.set(call.call_id)  # this task's own context: every line it logs carries the id
        try:
            await self._run(msg, call, msg.metadata.num_delivered)
        except Exception:
            # A bug, not the function's failure: the call is redelivered after ack_wait.
            logger.exception("call %s failed in the worker; left for redelivery", call.call_id)
            self.summary.errors += 1

    async def _run(self, msg: Msg, call: QueuedCall, number: int) -> None:
        policy = self._policy.overridden(call.retry)
        attempt = Attempt(call.runs + number, policy.max_attempts)
        refused: Refusal | None = None
        while True:
            ticket: Ticket | None = None
            if refused or self._flows(call):
                admitted = await self._admitted(msg, call, policy, attempt, refused)
                if admitted is False:
                    return  # stored again, to wait on the queue
                ticket = admitted if isinstance(admitted, Ticket) else None  # True: too late to run anyway
            if not await self._hooks.call_started(call, attempt):
                logger.debug("call %s skipped by the hooks: acked without running", call.call_id)
                self.summary.skipped += 1
                await self._give_back(ticket, succeeded=False)
                await msg.ack()
                self._metrics.settled(function_label(call.function, call.namespace), call.queue)
                return
            outcome, verdict = await self._attempt(call, attempt, policy, ticket)
            if not isinstance(verdict, Refusal):
                break
            refused = verdict  # answered 429: wait again, this run not counted
            self.summary.refused += 1
        if isinstance(verdict, Ack) and self._deliver_first(msg, call, attempt, outcome, verdict):
            return  # settled by the callback sender, once the callback is delivered or stored
        # One callback per call: on its final outcome only.
        if isinstance(verdict, DeadLetter):  # its dead letter keeps the body, which its callback must not delete
            held = await self._report(replace(call, body_object=None), outcome, attempt)
        else:
            held = None if isinstance(verdict, Retry) else await self._report(call, outcome, attempt)
        await self._hooks.call_finished(call, attempt, outcome, verdict)
        await self._settle(msg, call, attempt, outcome, verdict)
        if held is not None and self._handoff is not None:
            self._handoff.hand(*held)  # its status says it finished: now its callback goes out

    def _deliver_first(self, msg: Msg, call: QueuedCall, attempt: Attempt, outcome: Outcome, verdict: Ack) -> bool:
        """Give the callback sender the callback of a call that ends, its message not settled (False: not taken)."""
        if self._outbox is None or self._handoff is None or not call.callback_url:
            return False
        run = FinishedRun(msg, partial(self._conclude, msg, call, attempt, outcome, verdict))
        return self._handoff.deliver(PendingCallback(call, outcome, attempt), run)

    async def _conclude(
        self,
        msg: Msg,
        call: QueuedCall,
        attempt: Attempt,
        outcome: Outcome,
        verdict: Ack,
        failure: str | None,
        delivered: bool,
    ) -> None:
        """Record the end of a call whose callback was delivered or stored (or could not be: ``failure``); settle it."""
        try:
            if failure is not None:
                await self._hooks.callback_failed(call, attempt, outcome, failure)
            else:
                await self._hooks.callback_sent(call, attempt, delivered=delivered)
            await self._hooks.call_finished(call, attempt, outcome, verdict)
            await self._settle(msg, call, attempt, outcome, verdict)
        except Exception:
            logger.exception("call %s failed in the worker; left for redelivery", call.call_id)
            self.summary.errors += 1

    async def _report(self, call: QueuedCall, outcome: Outcome, attempt: Attempt) -> tuple[PendingCallback, int] | None:
        """Hold the callback of the call's final run for the callback sender (what to hand it), or POST it here."""
        if self._outbox is not None:  # stored before the ack, delivered by the callback sender
            if not call.callback_url:
                return None
            pending = PendingCallback(call, outcome, attempt)
            return pending, await self._outbox.hold(pending)
        if failure := await self._callbacks.send(call, outcome, attempt):
            self.summary.callbacks_failed += 1
            await self._hooks.callback_failed(call, attempt, outcome, failure)
        return None

    def _flows(self, call: QueuedCall) -> bool:
        return self._gate is not None and self._gate.applies(call)

    async def _attempt(
        self, call: QueuedCall, attempt: Attempt, policy: RetryPolicy, ticket: Ticket | None = None
    ) -> tuple[Outcome, Verdict | Refusal]:
        """Run the call, unless its deadline passed or it is too old, and decide what comes next.

        A 429 under flow control is backpressure, not a failed attempt: the function's limit is
        lowered and the answer is why the call must wait again.
        """
        if (late := _late(call, policy)) is not None:
            failure, dead = late
            await self._give_back(ticket, succeeded=False)
            logger.warning("call %s to %s not run: %s", call.call_id, call.function, dead.reason)
            return Outcome(None, failure=failure, detail=dead.reason), dead
        fn = (call.function, call.namespace)
        self._running[fn] = self._running.get(fn, 0) + 1
        try:
            outcome = await self._invoker.invoke(call, attempt)
        finally:
            running = self._running.pop(fn)
            if running > 1:
                self._running[fn] = running - 1
        if outcome.status == _TOO_MANY and self._gate is not None:
            # Backpressure, not a failure: the function's limit drops and the call waits again.
            asked = retry_after(outcome, time.time()) or 0.0
            lease = ticket or Ticket(f"{call.call_id}", call.function, call.namespace)
            logger.info("function %s answered 429: call %s waits, its limit lowered", call.function, call.call_id)
            return outcome, await self._gate.refused(lease, asked, running)
        await self._give_back(ticket, succeeded=outcome.status is not None and 200 <= outcome.status < 300)
        now = time.time()
        if attempt.number == 1:
            self._budgets.first_attempt(call.function, call.namespace, now)
        verdict: Verdict = decide(outcome, attempt, policy, now=now, rand=self._rand)
        if isinstance(verdict, Retry) and (spent := self._budgets.refusal(call.function, call.namespace, now)):
            verdict = DeadLetter(f"{outcome.summary} on attempt {attempt.number}; {spent}", Kind.RETRY_BUDGET)
        if logger.isEnabledFor(logging.DEBUG):
            took = f"{outcome.summary} in {outcome.duration:.3f}s"
            logger.debug("%s %s%s: %s, %s", call.method, call.function, call.path, took, verdict)
        if outcome.failure is not None:
            logger.warning("function %s: %s (%s)", call.function, outcome.failure.value, outcome.detail)
        return outcome, verdict

    async def _give_back(self, ticket: Ticket | None, *, succeeded: bool) -> None:
        if ticket is not None and self._gate is not None:
            await self._gate.release(ticket, succeeded=succeeded)

    async def _admitted(
        self, msg: Msg, call: QueuedCall, policy: RetryPolicy, attempt: Attempt, refused: Refusal | None
    ) -> Ticket | Literal[True, False]:
        """What ``call`` took to start under its limits, once it may (True: it is too late to run anyway).

        Until then it waits here without a slot, or, with no room to wait or at a stop, is stored
        again on the queue and its message acked (False). ``refused``: why it waits to begin with.
        """
        gate, task = self._gate, asyncio.current_task()
        if gate is None or task is None:  # pragma: no cover - only called with a gate, from a task
            raise RuntimeError("flow control without a gate")
        state: CallState | None = None
        place = Place(call.priority.rank)
        try:
            while True:
                if _late(call, policy) is not None:
                    return True
                if refused is None and place.scope is None:  # not in line yet: behind those who are
                    refused = gate.behind(call)
                admitted = refused or await gate.admit(call, call.call_id)
                refused = None
                if isinstance(admitted, Ticket):
                    if task in self._waiting:
                        await self._take_slot(task)
                    return admitted
                if task not in self._waiting and not self._leave_slot(task):
                    await self._store_again(msg, call, attempt, admitted)
                    return False
                if state is not CallState(admitted.why.value):
                    state = CallState(admitted.why.value)
                    await self._hooks.call_waiting(call, state)
                await gate.wait(admitted, _give_up_at(call, policy), place)
                if self._stopping.is_set():
                    await self._store_again(msg, call, attempt, admitted)
                    return False
        finally:
            gate.leave(place)
            self._waiting.discard(task)

    def _leave_slot(self, task: asyncio.Task[None]) -> bool:
        """Let ``task`` wait without its slot; False if there is no room to wait here, or the worker is stopping."""
        # Without message schedules a copy could only be due at once: wait here however many wait.
        full = self._schedules and len(self._waiting) >= self._max_waiting
        if full or self._stopping.is_set():
            return False
        self._waiting.add(task)
        self._slot_free.set()
        self.summary.waited += 1
        return True

    async def _take_slot(self, task: asyncio.Task[None]) -> None:
        while len(self._inflight) - len(self._waiting) >= self._max:  # this task is among the waiting
            self._slot_free.clear()
            await self._slot_free.wait()
        self._waiting.discard(task)

    async def _store_again(self, msg: Msg, call: QueuedCall, attempt: Attempt, refusal: Refusal) -> None:
        """Store ``call`` again to wait on the queue, due a little later, then ack its message.

        The copy's message id is the call's and its stream sequence, so a redelivery of this
        message that comes to store it again is dropped as a duplicate.
        """
        if self._js is None:  # pragma: no cover - a gate always comes with a JetStream context
            raise RuntimeError("no JetStream context to store a call again")
        now = time.time()
        age = max(0.0, now - call.due_ns / 1e9)
        later = now + min(_BACK_LATER[1], max(_BACK_LATER[0], age / 4))
        if refusal.until is not None:  # a rate's next token, a Retry-After: sooner is worth a look
            later = min(later, refusal.until)
        if self._stopping.is_set():  # handed to the workers that stay, at once
            later = now
        again = replace(call, runs=attempt.number - 1, not_before_ns=max(call.not_before_ns, int(later * 1e9)))
        msg_id = f"{call.call_id}@{_seq(msg)}"
        subject, headers = msg.subject, again.nats_headers(msg_id)
        if self._schedules and later > time.time():
            subject, headers = scheduled(again, msg.subject, msg_id)
        await self._js.publish(subject, call.body, headers=headers)
        await msg.ack()
        logger.debug("call %s stored again to wait for its %s", call.call_id, refusal.why.value)

    async def _settle(self, msg: Msg, call: QueuedCall, attempt: Attempt, outcome: Outcome, verdict: Verdict) -> None:
        label = function_label(call.function, call.namespace)
        if isinstance(verdict, Ack):
            self.summary.done += 1
            await msg.ack()
            self._metrics.settled(label, call.queue)
        elif isinstance(verdict, Retry):
            self.summary.retried += 1
            self._metrics.retried(label, call.queue)
            await msg.nak(delay=verdict.delay)
        elif isinstance(verdict, DeadLetter):
            self.summary.dead_lettered += 1
            await self._hooks.dead_letter(call, attempt, outcome, verdict.reason, verdict.kind)
            await msg.term()
            self._metrics.settled(label, call.queue)


def _late(call: QueuedCall, policy: RetryPolicy) -> tuple[Failure, DeadLetter] | None:
    """Why ``call`` must not start now (its deadline passed, or it is too old), if so."""
    now = time.time_ns()
    if (late := past_deadline(call.deadline_ns, now)) is not None:
        return Failure.DEADLINE, late
    if (expired := age_out(call.due_ns, now, policy)) is not None:
        return Failure.EXPIRED, expired
    return None


def _give_up_at(call: QueuedCall, policy: RetryPolicy) -> float | None:
    """When a waiting call is too late to start (epoch seconds), if ever."""
    moments = [call.deadline_ns / 1e9] if call.deadline_ns else []
    if policy.max_event_age:
        moments.append(call.due_ns / 1e9 + policy.max_event_age)
    return min(moments) if moments else None


def _seq(msg: Msg) -> str:
    try:
        return str(msg.metadata.sequence.stream)
    except (ValueError, IndexError, AttributeError):
        return "?"


async def _nak(msg: Msg) -> None:
    await quietly(msg.nak())


async def quietly(settling: Awaitable[None]) -> None:
    """Settle a message (ack, nak, term, in progress); a failure is logged, never raised."""
    try:
        await settling
    except nats.errors.Error as exc:  # the lease lapses and JetStream redelivers: nothing is lost
        logger.debug("could not settle a message: %s", exc)
