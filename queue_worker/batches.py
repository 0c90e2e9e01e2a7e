"""Batch tracking in the worker: each item's state goes into its batch's record, and the last one calls back.

Reports are grouped per batch (one revision-checked write in flight at a time); the worker
of the item that completes a batch sends its completion callback (see docs/internals.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta

from nats.js import JetStreamContext

from calls.batch import BatchRecord, finished_state, item_index, stamp_callback
from calls.batch_store import BatchStore
from calls.metrics import CallMetrics, NoMetrics, function_label
from calls.outcome import Attempt, Outcome
from calls.status import TERMINAL, CallRecord, CallState
from calls.wire import QueuedCall
from queue_worker.callback import CallbackSender
from queue_worker.hooks import WorkerHooks

__all__ = ["BatchTracker"]

logger = logging.getLogger(__name__)


class _Pending:
    """Reports of one batch waiting for the next write, and who waits for it."""

    def __init__(self) -> None:
        self.marks: dict[int, CallState] = {}
        self.waiters: list[asyncio.Future[BatchRecord | None]] = []


class BatchTracker(WorkerHooks):
    """Keeps batch records up to date and sends each batch's completion callback.

    Args:
        js: the JetStream context the bucket is opened with at :meth:`startup`.
        bucket: the batch records' bucket.
        ttl: how long a batch record lives after its last write.
        replicas: copies of the bucket a NATS cluster keeps.
        callbacks: sends the completion summary.
        metrics: counts the batches finished, by state.
    """

    def __init__(
        self,
        js: JetStreamContext,
        *,
        bucket: str,
        ttl: timedelta,
        callbacks: CallbackSender,
        replicas: int = 1,
        metrics: CallMetrics | None = None,
    ) -> None:
        self._js = js
        self._metrics = metrics or NoMetrics()
        self._bucket = bucket
        self._ttl = ttl
        self._replicas = replicas
        self._callbacks = callbacks
        self._store: BatchStore | None = None
        self._pending: dict[str, _Pending] = {}
        self._writers: dict[str, asyncio.Task[None]] = {}

    async def startup(self) -> None:
        """Create or bind the batch records' bucket."""
        self._store = await BatchStore.open(self._js, self._bucket, self._ttl, self._replicas)

    async def shutdown(self) -> None:
        """Let the writes under way finish."""
        if self._writers:
            await asyncio.gather(*self._writers.values(), return_exceptions=True)

    def moved(self, record: CallRecord) -> None:
        """A batch item started or is waiting for a retry: shown in the batch's progress, not awaited."""
        if record.batch_id is not None and record.state not in TERMINAL:
            self._report(record, wait=False)

    async def finished(self, record: CallRecord) -> None:
        """A batch item reached a final state: record it, and send the batch's callback if it completed the batch."""
        if record.batch_id is None or record.state not in TERMINAL:
            return
        waiter = self._report(record, wait=True)
        if waiter is None:
            return
        # Not cancelled with the call: the write is shared with other calls' reports.
        batch = await asyncio.shield(waiter)
        if batch is not None and batch.completed_by == record.call_id and batch.callback_sent_at is None:
            await self._complete(batch)

    def _report(self, record: CallRecord, *, wait: bool) -> asyncio.Future[BatchRecord | None] | None:
        batch_id = record.batch_id or ""
        index = item_index(batch_id, record.call_id)
        if index is None:
            logger.warning("call %s names batch %s but is not one of its items", record.call_id, batch_id)
            return None
        pending = self._pending.setdefault(batch_id, _Pending())
        if pending.marks.get(index) not in TERMINAL:
            pending.marks[index] = record.state
        if batch_id not in self._writers:
            self._writers[batch_id] = asyncio.create_task(self._write(batch_id))
        if not wait:
            return None
        waiter: asyncio.Future[BatchRecord | None] = asyncio.get_running_loop().create_future()
        pending.waiters.append(waiter)
        return waiter

    async def _write(self, batch_id: str) -> None:
        """Write the batch's pending reports, one write at a time, until none are left."""
        try:
            while (pending := self._pending.pop(batch_id, None)) is not None:
                try:
                    batch = await self._require_store().apply(batch_id, pending.marks)
                except Exception as exc:  # handed to every waiter, whose call is then redelivered
                    logger.warning("batch %s: %d reports not written: %s", batch_id, len(pending.marks), exc)
                    for waiter in pending.waiters:
                        if not waiter.done():
                            waiter.set_exception(exc)
                    continue
                for waiter in pending.waiters:
                    if not waiter.done():
                        waiter.set_result(batch)
        finally:
            del self._writers[batch_id]

    def _require_store(self) -> BatchStore:
        if self._store is None:
            raise RuntimeError("BatchTracker.startup() has not run")
        return self._store

    async def _complete(self, batch: BatchRecord) -> None:
        error: str | None = None
        if batch.callback_url is not None:
            call = QueuedCall(batch.batch_id, batch.function, batch.namespace, callback_url=batch.callback_url)
            summary = json.dumps(batch.summary(), separators=(",", ":")).encode()
            outcome = Outcome(200, headers=[("Content-Type", "application/json")], body=summary)
            error = await self._callbacks.send(call, outcome, Attempt(1, 1))
        await self._require_store().change(batch.batch_id, lambda record: stamp_callback(record, error))
        self._metrics.batch(function_label(batch.function, batch.namespace), finished_state(batch))
        failed = f"; its callback failed: {error}" if error else ""
        logger.info("batch %s finished: %s%s", batch.batch_id, batch.counts(), failed)
