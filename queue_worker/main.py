"""``faasq-worker [--queue NAME]``: the queue worker, configured by the environment.

Connects to NATS (reconnecting per ``faas_max_reconnect`` and ``faas_reconnect_delay``),
makes sure the stream and the queue's durable consumer exist, and runs calls until
SIGTERM or SIGINT. Then it shuts down in three steps: stop pulling; let the calls in flight
finish within ``shutdown_grace`` (their heartbeats go on); cancel the rest, which JetStream
redelivers, close, log one summary line and exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
import uuid
from contextlib import AsyncExitStack

import nats
from nats.js import JetStreamContext
from pydantic import ValidationError

from calls.flow_store import FlowStore
from calls.metrics import CallMetrics, NoMetrics
from calls.streams import StreamConfigError
from plumbing.credentials import CredentialsError, read_credentials
from plumbing.logs import configure_logging
from plumbing.loops import running_loop, uvloop_factory
from plumbing.metrics import MetricsServer, flushing
from plumbing.settings import describe_validation_error, load_settings
from plumbing.tracing import Tracing
from queue_worker.batches import BatchTracker
from queue_worker.bodies import BodyReader, CallBodies
from queue_worker.callback import CallbackSender, HttpCallbackSender
from queue_worker.config import WorkerSettings
from queue_worker.connection import connect
from queue_worker.consumer import Consumer, Summary
from queue_worker.deadletters import DeadLetterHooks
from queue_worker.dispatcher import CallbackDispatcher, subscribe_callbacks
from queue_worker.flow import FlowGate
from queue_worker.hooks import HookChain, WorkerHooks
from queue_worker.instruments import InstrumentedInvoker
from queue_worker.intake import subscribe
from queue_worker.invoker import HttpInvoker
from queue_worker.outbox import Outbox
from queue_worker.status import StatusHooks

__all__ = ["main", "run"]

logger = logging.getLogger(__name__)

_LEASE_MARGIN = 60.0
"""Seconds a run's lease on its limits outlasts ``upstream_timeout``, should its worker die holding it."""


def _credentials(settings: WorkerSettings) -> list[tuple[str, str]]:
    """The gateway's basic auth header, when ``basic_auth`` is on and calls go through the gateway.

    Raises:
        CredentialsError: a credentials file is missing or unreadable, or holds no user.
    """
    if not (settings.basic_auth and settings.gateway_invoke):
        return []
    return [("Authorization", read_credentials(settings.secret_mount_path).header())]


async def run(settings: WorkerSettings, stop: asyncio.Event, hooks: WorkerHooks | None = None) -> Summary:
    """Run the worker until ``stop`` is set (or NATS is lost for good), then drain and close.

    Raises:
        ConnectionError: NATS was closed for good before ``stop`` was set.
        calls.streams.StreamConfigError: the stream exists with a configuration that cannot be changed.
    """
    lost, closing = asyncio.Event(), asyncio.Event()
    nc = await connect(settings, lost, closing)

    async def close() -> None:
        closing.set()
        await nc.close()

    metrics = CallMetrics() if settings.metrics else NoMetrics()
    tracing = Tracing("faasq-queue-worker")
    async with AsyncExitStack() as stack:
        stack.callback(tracing.shutdown)  # last: the spans of the calls that drained go out
        if settings.metrics:  # next to last: the counts of the calls that drained go out
            await stack.enter_async_context(flushing())
        stack.push_async_callback(close)
        if settings.metrics and settings.metrics_port:
            await stack.enter_async_context(MetricsServer(settings.metrics_bind_address, settings.metrics_port))
        intake = await subscribe(nc, settings)
        http = await stack.enter_async_context(
            HttpInvoker(
                settings.invoke_base_url,
                timeout=settings.upstream_timeout.total_seconds(),
                extra_headers=_credentials(settings),
            )
        )
        bodies = CallBodies(nc.jetstream(), settings)
        # Through the gateway, the gateway counts the runs in OpenFaaS's series; else the worker does.
        invoker = InstrumentedInvoker(
            BodyReader(http, bodies), metrics, tracing, counts_invocations=not settings.gateway_invoke
        )
        callbacks = await stack.enter_async_context(_callback_sender(settings, metrics, tracing))
        hooks = HookChain([hooks or _hooks(settings, nc.jetstream(), callbacks, metrics), bodies])
        await hooks.startup()
        stack.push_async_callback(hooks.shutdown)
        gate = FlowGate(
            await FlowStore.open(nc.jetstream(), settings.flow_bucket, settings.nats_stream_replicas),
            worker=uuid.uuid4().hex[:12],
            lease_for=settings.upstream_timeout.total_seconds() + _LEASE_MARGIN,
        )
        await gate.start()
        stack.push_async_callback(gate.stop)
        outbox = Outbox(nc, settings.callback_stream, hold_for=_hold_for(settings), bodies=bodies.bucket)
        deliveries = await subscribe_callbacks(nc.jetstream(), settings)
        dispatcher = CallbackDispatcher(deliveries, callbacks, hooks, settings, outbox)
        sending = asyncio.create_task(dispatcher.run(settings.shutdown_grace.total_seconds()))
        consumer = Consumer(
            intake,
            settings,
            invoker,
            callbacks,
            hooks=hooks,
            metrics=metrics,
            gate=gate,
            js=nc.jetstream(),
            outbox=outbox,
            handoff=dispatcher,
        )
        source = f"{settings.subject}.> (consumers {settings.durable}, -high, -low) from {settings.nats_url}"
        logger.info("pulling %s, %d calls at once, on %s", source, settings.max_inflight, running_loop())
        waiter = asyncio.create_task(_first(stop, lost))
        waiter.add_done_callback(lambda _: consumer.stop())
        try:
            summary = await consumer.run(settings.shutdown_grace.total_seconds())
        finally:
            dispatcher.stop()
            await sending
        waiter.cancel()
        summary.callbacks_failed += dispatcher.undelivered
    if lost.is_set() and not stop.is_set():
        raise ConnectionError(f"lost the connection to NATS at {settings.nats_url}")
    return summary


def _hold_for(settings: WorkerSettings) -> float:
    """Seconds a callback its worker delivers waits before any other may: a lease (``ack_wait``) and a POST.

    As long as a call's own lease, so that a worker that dies leaves its callbacks to the others
    as soon as its calls; the sender hands over, rather than POSTs, a callback it held for half of it.
    """
    return settings.ack_wait.total_seconds() + settings.callback_timeout.total_seconds()


def _callback_sender(settings: WorkerSettings, metrics: CallMetrics, tracing: Tracing) -> HttpCallbackSender:
    return HttpCallbackSender(
        timeout=settings.callback_timeout.total_seconds(),
        attempts=settings.callback_attempts,
        initial_wait=settings.callback_initial_wait.total_seconds(),
        max_wait=settings.callback_max_wait.total_seconds(),
        signing_secret=settings.signing_secret(),
        guard=settings.callback_guard,
        metrics=metrics,
        tracing=tracing,
    )


def _dead_letters(js: JetStreamContext, settings: WorkerSettings, metrics: CallMetrics) -> DeadLetterHooks:
    return DeadLetterHooks(
        js,
        settings.dead_letter_stream,
        max_age=settings.dead_letter_max_age.total_seconds(),
        max_bytes=settings.dead_letter_max_bytes,
        replicas=settings.nats_stream_replicas,
        timeout=settings.ack_wait.total_seconds() / 3,
        metrics=metrics,
    )


def _hooks(
    settings: WorkerSettings, js: JetStreamContext, callbacks: CallbackSender, metrics: CallMetrics
) -> WorkerHooks:
    """The worker's hooks, in the order they run.

    Dead letters before status: a call's record says ``dead`` only once its dead letter is
    stored, else a redelivery would find it finished and never store it. Batches are kept
    by the status hooks, from the records they write.
    """
    chain: list[WorkerHooks] = [_dead_letters(js, settings, metrics)]
    if settings.call_status:
        replicas = settings.nats_stream_replicas
        batches = BatchTracker(
            js,
            bucket=settings.batch_bucket,
            ttl=settings.batch_ttl,
            replicas=replicas,
            callbacks=callbacks,
            metrics=metrics,
        )
        status = StatusHooks(
            js,
            bucket=settings.status_bucket,
            ttl=settings.status_ttl,
            replicas=replicas,
            result_bytes=settings.status_result_bytes,
            batches=batches,
        )
        chain += [batches, status]
    return HookChain(chain)


async def _first(*events: asyncio.Event) -> None:
    waits = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="faasq-worker",
        description="Run async calls from a faasq queue on JetStream and POST their results to callbacks. "
        "Configured by the environment (faas_nats_address, gateway_invoke, max_inflight, ack_wait, ...).",
    )
    parser.add_argument("--queue", help="the queue to serve (default: the environment's 'queue', else 'default')")
    return parser.parse_args(argv)


async def _serve(settings: WorkerSettings) -> Summary:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    return await run(settings, stop)


def main(argv: list[str] | None = None) -> None:
    """Run the worker until SIGTERM or SIGINT, then exit 0; exit non-zero with one line on bad settings."""
    args = _parse_args(argv)
    settings = load_settings(WorkerSettings, "faasq-worker")
    if args.queue is not None:
        try:
            settings = WorkerSettings.model_validate(settings.model_dump() | {"queue": args.queue})
        except ValidationError as exc:
            sys.exit(f"faasq-worker: invalid --queue: {describe_validation_error(exc)}")
    configure_logging(logging.DEBUG if settings.write_debug else logging.INFO)
    # Everything imported so far lives as long as the process: full collections need not scan it again.
    gc.freeze()
    # Each call allocates a few hundred objects that refcounting frees; a collection every 700 is
    # mostly a scan of the calls in flight.
    gc.set_threshold(20_000, 20, 20)
    try:
        with asyncio.Runner(loop_factory=uvloop_factory()) as runner:
            summary = runner.run(_serve(settings))
    except (OSError, nats.errors.Error, StreamConfigError, CredentialsError) as exc:
        sys.exit(f"faasq-worker: {type(exc).__name__}: {exc}" if str(exc) == "" else f"faasq-worker: {exc}")
    logger.info("stopped: %s", summary)


if __name__ == "__main__":
    main()
