"""The worker's flow gate: may a call start now, under its limits and its function's pause?

:meth:`FlowGate.admit` takes a lease in each scope that limits the call (the function's
runs, its concurrency key's runs), then a token of its rate, each a revision-checked write
to the flow bucket (:mod:`calls.flow_store`); a call that may not start gets a
:class:`Refusal` saying why and which scope to wait on. The gate watches the whole bucket,
so it writes from the value it last saw without reading first, knows without asking which
functions are paused or were answered 429, and wakes a waiting call as soon as its scope
changes: a run that ends wakes the first call waiting on it on every worker, at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from nats.js.kv import KV_DEL, KV_PURGE

from calls.flow import Limits, Priority, Slots, Tokens, Wait, key_scope, paused_scope, rate_scope, run_scope
from calls.flow_store import KEEP, FlowStore, Keep, Seen
from calls.wire import QueuedCall

__all__ = ["FlowGate", "Place", "Refusal", "Ticket"]

logger = logging.getLogger(__name__)

R = TypeVar("R")
_Value = bytes | Slots | Tokens | None
"""A scope's value as a group's rules pass it on: decoded once, by the first rule, and encoded once, at the end."""
_Rule = Callable[[_Value], tuple[_Value | Keep, Any]]

_AFTER_429 = 1.0
"""Seconds a call answered 429 waits at most for a run of its function to end before it tries again."""
_SAFETY_POLL = 5.0
"""Seconds a waiting call waits at most before it looks again, should a change go unseen."""


@dataclass(frozen=True, slots=True)
class Ticket:
    """What a call took to start: a lease in each of ``scopes``, under ``lease``."""

    lease: str
    function: str = ""
    namespace: str = ""
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a call may not start yet, the scope whose change may let it, and when it frees by itself (if it does)."""

    why: Wait
    scope: str
    until: float | None = None
    revision: int = 0
    """The scope's revision the refusal was decided on: a later one is a change worth another try."""


@dataclass(eq=False)
class Place:
    """A waiting call's place in the line of the scope it waits on (on this worker), kept across its waits.

    A line is in order of priority, then of arrival: a high-priority call queues ahead of every
    normal and low one waiting with it.
    """

    rank: int = Priority.NORMAL.rank
    scope: str | None = None
    woken: asyncio.Event = field(default_factory=asyncio.Event)


class FlowGate:
    """Admits calls under their limits, shared with every other worker through the flow bucket.

    Args:
        store: the flow bucket.
        worker: this worker's id, in every lease it takes.
        lease_for: seconds a lease lasts if its worker dies before it returns it.
    """

    def __init__(self, store: FlowStore, worker: str, lease_for: float) -> None:
        self._store = store
        self._worker = worker
        self._lease_for = lease_for
        self._seen: dict[str, Seen] = {}
        self._lines: dict[str, deque[Place]] = {}
        self._pending: dict[str, list[tuple[_Rule, asyncio.Future[tuple[object, Seen]]]]] = {}
        self._committing: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._watching: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        """Watch the bucket; returns once what it holds now has been seen."""
        watcher = await self._store.kv.watchall()
        self._watching = asyncio.create_task(self._watch(watcher))
        await self._ready.wait()

    async def stop(self) -> None:
        """Stop watching; every waiting call is woken."""
        if self._watching is not None:
            self._watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watching
        self.wake_all()

    async def _watch(self, watcher: object) -> None:
        updates = watcher.updates  # type: ignore[attr-defined]
        while True:
            try:
                entry = await updates(timeout=_SAFETY_POLL)
            except Exception:  # nats' TimeoutError: nothing changed
                self._ready.set()
                continue
            if entry is None:  # everything there was at the start has been seen
                self._ready.set()
                continue
            deleted = entry.operation in (KV_DEL, KV_PURGE)
            self._saw(entry.key, Seen(None if deleted else entry.value, entry.revision or 0))
            self._wake(entry.key, everyone=deleted or entry.key.startswith("paused."))

    def _saw(self, key: str, seen: Seen) -> None:
        known = self._seen.get(key)
        if known is None or seen.revision > known.revision:
            self._seen[key] = seen

    def _wake(self, key: str, *, everyone: bool = False) -> None:
        for waiter in self._lines.get(key, ()):
            if not waiter.woken.is_set():
                waiter.woken.set()
                if not everyone:
                    return

    async def _change(self, scope: str, rule: Callable[[_Value], tuple[_Value | Keep, R]]) -> tuple[R, Seen]:
        """Apply ``rule`` to ``scope``, together with every change of it asked for meanwhile on this worker.

        Changes of one scope are committed as a group: while one write is under way, the next
        ones queue, and then go in one revision-checked write, each rule applied in turn to
        what the one before left (decoded once, encoded once). Calls of one function on one
        worker never conflict with each other, and a busy scope costs one write per round trip,
        not one per call.
        """
        done: asyncio.Future[tuple[object, Seen]] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(scope, []).append((rule, done))
        if scope not in self._committing:
            self._committing.add(scope)
            task = asyncio.create_task(self._commit(scope))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        result, seen = await done
        return result, seen  # type: ignore[return-value]  # what this rule answered

    async def _commit(self, scope: str) -> None:
        try:
            while group := self._pending.pop(scope, None):
                try:
                    results, seen = await self._store.change(scope, partial(_in_turn, group), self._seen.get(scope))
                except Exception as exc:  # every change of the group failed with it
                    for _, done in group:
                        if not done.done():
                            done.set_exception(exc)
                    continue
                self._saw(scope, seen)
                for (_, done), result in zip(group, results, strict=True):
                    if not done.done():
                        done.set_result((result, seen))
        finally:
            self._committing.discard(scope)

    def _revision(self, scope: str) -> int:
        seen = self._seen.get(scope)
        return seen.revision if seen is not None else 0

    def applies(self, call: QueuedCall) -> bool:
        """Whether ``call`` must pass the gate: it carries limits, or its function is paused or was answered 429."""
        return bool(call.limits) or self.paused(call) or self._adapting(run_scope(call.function, call.namespace))

    def _adapting(self, run: str) -> bool:
        """Whether a function's runs are limited since a 429 (its limit learnt, or its ``Retry-After``)."""
        seen = self._seen.get(run)
        if seen is None or seen.value is None:
            return False
        slots = Slots.decode(seen.value)
        return slots.adaptive is not None or slots.backoff_until > time.time()

    def paused(self, call: QueuedCall) -> bool:
        """Whether the call's function is paused, as last seen."""
        seen = self._seen.get(paused_scope(call.function, call.namespace))
        return seen is not None and seen.value is not None

    async def admit(self, call: QueuedCall, lease: str) -> Ticket | Refusal:
        """Take what ``call`` needs to start now, or say why it may not (taking nothing)."""
        fn, ns = call.function, call.namespace
        if self.paused(call):
            return Refusal(Wait.PAUSED, paused_scope(fn, ns), None, self._revision(paused_scope(fn, ns)))
        limits = call.limits or Limits()
        lease = f"{self._worker}:{lease}"
        taken: list[str] = []
        run = run_scope(fn, ns)
        scopes = [(run, limits.concurrency)] if limits.concurrency or self._adapting(run) else []
        if limits.per_key and limits.key:
            scopes.append((key_scope(fn, ns, limits.key), limits.per_key))
        for scope, configured in scopes:
            refusal = await self._take(scope, lease, configured)
            if refusal is not None:
                await self._return(taken, lease)
                return refusal
            taken.append(scope)
        if limits.rate:
            wait = await self._token(rate_scope(fn, ns), limits.rate, limits.burst)
            if wait > 0:
                await self._return(taken, lease)
                return Refusal(Wait.RATE, rate_scope(fn, ns), time.time() + wait, self._revision(rate_scope(fn, ns)))
        return Ticket(lease, fn, ns, tuple(taken))

    async def _take(self, scope: str, lease: str, configured: int) -> Refusal | None:
        now = time.time()

        def rule(value: _Value) -> tuple[Slots | Keep, Slots | None]:
            slots = _slots(value)
            taken = slots.admit(lease, configured, now, now + self._lease_for)
            return (KEEP, slots) if taken is None else (taken, None)

        full, seen = await self._change(scope, rule)
        return None if full is None else Refusal(Wait.CONCURRENCY, scope, full.wakes_at(now), seen.revision)

    async def _token(self, scope: str, rate: float, burst: int) -> float:
        now = time.time()

        def rule(value: _Value) -> tuple[Tokens | Keep, float]:
            tokens, wait = _tokens(value, burst, now).take(rate, burst, now)
            return (KEEP if wait else tokens), wait

        wait, _ = await self._change(scope, rule)
        return wait

    async def _return(self, scopes: list[str] | tuple[str, ...], lease: str, *, succeeded: bool = False) -> None:
        now = time.time()
        for scope in scopes:
            rule = partial(_released, lease=lease, now=now, succeeded=succeeded, keep=scope.startswith("run."))

            await self._change(scope, rule)

    async def release(self, ticket: Ticket, *, succeeded: bool) -> None:
        """The run of ``ticket`` ended: return its leases (a success grows an adaptive limit)."""
        await self._return(ticket.scopes, ticket.lease, succeeded=succeeded)

    async def refused(self, ticket: Ticket, retry_after: float, running: int) -> Refusal:
        """The run of ``ticket`` was answered 429: return its leases, halve the function's limit, say how to wait.

        The call waits for the next change of its function's runs (one ending), its
        ``Retry-After``, or a second, whichever is first.

        Args:
            ticket: what the run took.
            retry_after: seconds the function asked to be left alone (``Retry-After``), 0 if it did not say.
            running: runs of the function under way on this worker, a floor for a function without a limit.
        """
        run = run_scope(ticket.function, ticket.namespace)
        await self._return([scope for scope in ticket.scopes if scope != run], ticket.lease)
        now = time.time()

        def rule(value: _Value) -> tuple[Slots, None]:
            return _slots(value).refused(ticket.lease, now, retry_after, running), None

        _, seen = await self._change(run, rule)
        until = max(Slots.decode(seen.value).backoff_until, now + _AFTER_429)
        return Refusal(Wait.CONCURRENCY, run, until, seen.revision)

    def wake_all(self) -> None:
        """Wake every waiting call (the worker is stopping)."""
        for line in self._lines.values():
            for waiter in line:
                waiter.woken.set()

    def behind(self, call: QueuedCall) -> Refusal | None:
        """Why ``call`` must queue behind calls waiting here: some of its priority or higher wait on its scopes.

        A call that comes while others wait takes its turn after them rather than the next slot
        or token they are waiting for, unless it comes first by priority.
        """
        limits = call.limits or Limits()
        fn, ns = call.function, call.namespace
        scopes = [(paused_scope(fn, ns), Wait.PAUSED), (run_scope(fn, ns), Wait.CONCURRENCY)]
        if limits.per_key and limits.key:
            scopes.append((key_scope(fn, ns, limits.key), Wait.CONCURRENCY))
        if limits.rate:
            scopes.append((rate_scope(fn, ns), Wait.RATE))
        rank = call.priority.rank
        for scope, why in scopes:
            line = self._lines.get(scope)
            if line and line[0].rank <= rank:
                return Refusal(why, scope, None, self._revision(scope))
        return None

    async def wait(self, refusal: Refusal, until: float | None, place: Place) -> None:
        """Wait in line on ``refusal``'s scope for it to change, for its own time (first in line only), or ``until``."""
        if place.scope != refusal.scope:
            self.leave(place)
            line = self._lines.setdefault(refusal.scope, deque())
            ahead = next((at for at, other in enumerate(line) if other.rank > place.rank), len(line))
            line.insert(ahead, place)
            place.scope = refusal.scope
        if self._revision(refusal.scope) > refusal.revision or place.woken.is_set():
            place.woken.clear()
            return  # it changed since the refusal was decided
        first = self._lines[refusal.scope][0] is place
        moments = [m for m in (refusal.until if first else None, until) if m is not None]
        timeout = min([_SAFETY_POLL, *(max(0.0, m - time.time()) for m in moments)])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(place.woken.wait(), timeout)
        place.woken.clear()

    def leave(self, place: Place) -> None:
        """Take ``place`` out of its line (the call starts, or waits no more); the next in line looks again."""
        if place.scope is None:
            return
        line = self._lines.get(place.scope)
        if line is not None:
            with contextlib.suppress(ValueError):
                line.remove(place)
            if not line:
                self._lines.pop(place.scope, None)
            else:
                self._wake(place.scope)
        place.scope = None


def _released(value: _Value, *, lease: str, now: float, succeeded: bool, keep: bool) -> tuple[Slots | None, None]:
    """A scope's value without ``lease``; a concurrency key's scope (not ``keep``) goes with its last run."""
    slots = _slots(value).release(lease, now, succeeded=succeeded)
    if not slots.leases and slots.adaptive is None and not keep:
        return None, None
    return slots, None


def _slots(value: _Value) -> Slots:
    return value if isinstance(value, Slots) else Slots.decode(value if isinstance(value, bytes) else None)


def _tokens(value: _Value, burst: int, now: float) -> Tokens:
    return (
        value if isinstance(value, Tokens) else Tokens.decode(value if isinstance(value, bytes) else None, burst, now)
    )


def _in_turn(group: Sequence[tuple[_Rule, object]], value: bytes | None) -> tuple[bytes | Keep | None, list[object]]:
    """The rules of a group applied in turn, each to what the one before left; their results in order."""
    results: list[object] = []
    current: _Value = value
    changed = False
    for rule, _ in group:
        new, result = rule(current)
        results.append(result)
        if not isinstance(new, Keep):
            current, changed = new, True
    if not changed:
        return KEEP, results
    return (current.encode() if isinstance(current, Slots | Tokens) else current), results
