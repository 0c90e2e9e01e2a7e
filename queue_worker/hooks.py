"""Extension points around each call: status records, cancellation and dead letters plug in here.

Every hook is a coroutine that by default does nothing (or allows the call); a subclass
overrides only what it needs, and :class:`HookChain` runs several in order. The consumer
always awaits them, in this order for one run of a call::

    [call_waiting] -> call_started -> (the function runs) -> [callback_failed] -> call_finished
        -> [dead_letter] -> settle

``call_waiting`` comes when flow control holds the call back (and again after a run answered 429).
"""

from __future__ import annotations

from collections.abc import Sequence

from calls.deadletters import Kind
from calls.outcome import Attempt, Outcome
from calls.retry_decision import Verdict
from calls.status import CallState
from calls.wire import QueuedCall

__all__ = ["HookChain", "WorkerHooks"]


class WorkerHooks:
    """Called by the consumer at each step of a call; by default they do nothing."""

    async def startup(self) -> None:
        """Before the first call (connect to a status bucket, a dead-letter stream)."""

    async def shutdown(self) -> None:
        """After the last call."""

    async def call_waiting(self, call: QueuedCall, state: CallState) -> None:
        """``call`` is held back by flow control, in ``state`` (one of :data:`calls.status.WAITING`)."""

    async def call_started(self, call: QueuedCall, attempt: Attempt) -> bool:
        """Run ``attempt`` of ``call`` is about to start.

        Returns:
            False to skip the call (it was cancelled, or a redelivery of a call that finished): the
            consumer acks it without running it and without a callback. The hook logs why.
        """
        return True

    async def callback_failed(self, call: QueuedCall, attempt: Attempt, outcome: Outcome, reason: str) -> None:
        """The callback of ``call``'s final outcome could not be delivered after all its attempts."""

    async def callback_undelivered(self, call: QueuedCall, attempt: Attempt, outcome: Outcome, reason: str) -> None:
        """The callback sender gave up on the callback of ``call``, which finished before (its outcome ``outcome``)."""

    async def callback_sent(self, call: QueuedCall, attempt: Attempt, *, delivered: bool) -> None:
        """The callback of ``call``'s final run was delivered, or (not ``delivered``) stored to be tried again.

        Comes before ``call_finished``, when the callback went out before the call was settled.
        """

    async def callback_delivered(self, call: QueuedCall, attempt: Attempt) -> None:
        """The callback sender delivered the callback of ``call``, which finished before."""

    async def call_finished(self, call: QueuedCall, attempt: Attempt, outcome: Outcome, verdict: Verdict) -> None:
        """Run ``attempt`` ended in ``outcome`` and the policy chose ``verdict``; runs before the message is settled."""

    async def dead_letter(
        self, call: QueuedCall, attempt: Attempt, outcome: Outcome, reason: str, kind: Kind | None = None
    ) -> None:
        """``call`` is given up on; keep it aside with ``reason`` (before the message is terminated).

        ``kind``: why, where ``outcome`` does not say (a spent retry budget).
        """


class HookChain(WorkerHooks):
    """Several hooks run in order; a call runs only if every ``call_started`` allows it."""

    def __init__(self, hooks: Sequence[WorkerHooks]) -> None:
        self.hooks = tuple(hooks)

    async def startup(self) -> None:
        for hook in self.hooks:
            await hook.startup()

    async def shutdown(self) -> None:
        for hook in reversed(self.hooks):
            await hook.shutdown()

    async def call_waiting(self, call: QueuedCall, state: CallState) -> None:
        for hook in self.hooks:
            await hook.call_waiting(call, state)

    async def call_started(self, call: QueuedCall, attempt: Attempt) -> bool:
        for hook in self.hooks:
            if not await hook.call_started(call, attempt):
                return False
        return True

    async def callback_failed(self, call: QueuedCall, attempt: Attempt, outcome: Outcome, reason: str) -> None:
        for hook in self.hooks:
            await hook.callback_failed(call, attempt, outcome, reason)

    async def callback_undelivered(self, call: QueuedCall, attempt: Attempt, outcome: Outcome, reason: str) -> None:
        for hook in self.hooks:
            await hook.callback_undelivered(call, attempt, outcome, reason)

    async def callback_sent(self, call: QueuedCall, attempt: Attempt, *, delivered: bool) -> None:
        for hook in self.hooks:
            await hook.callback_sent(call, attempt, delivered=delivered)

    async def callback_delivered(self, call: QueuedCall, attempt: Attempt) -> None:
        for hook in self.hooks:
            await hook.callback_delivered(call, attempt)

    async def call_finished(self, call: QueuedCall, attempt: Attempt, outcome: Outcome, verdict: Verdict) -> None:
        for hook in self.hooks:
            await hook.call_finished(call, attempt, outcome, verdict)

    async def dead_letter(
        self, call: QueuedCall, attempt: Attempt, outcome: Outcome, reason: str, kind: Kind | None = None
    ) -> None:
        for hook in self.hooks:
            await hook.dead_letter(call, attempt, outcome, reason, kind)
