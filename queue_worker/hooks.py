"""Extension points around each call: status records and dead letters plug in here.

Every hook is a no-op coroutine; a subclass overrides only what it needs and the
consumer always awaits them.
"""

from __future__ import annotations

from provider.queue import QueuedCall
from queue_worker.outcome import Outcome
from queue_worker.policy import Verdict

__all__ = ["WorkerHooks"]


class WorkerHooks:
    """Called by the consumer at each step of a call; by default they do nothing."""

    async def startup(self) -> None:
        """Before the first call (connect to a status bucket, a dead-letter stream)."""

    async def shutdown(self) -> None:
        """After the last call."""

    async def call_started(self, call: QueuedCall, attempt: int) -> None:
        """Run number ``attempt`` (from 1) of ``call`` is about to start."""

    async def call_finished(self, call: QueuedCall, attempt: int, outcome: Outcome, verdict: Verdict) -> None:
        """Run ``attempt`` ended in ``outcome`` and the policy chose ``verdict``; runs before the message is settled."""

    async def dead_letter(self, call: QueuedCall, attempt: int, outcome: Outcome, reason: str) -> None:
        """``call`` is given up on; keep it aside with ``reason`` (before the message is terminated)."""
