"""The streams and buckets faasq keeps in JetStream, created or brought to their configuration.

The calls' stream (:func:`ensure_stream`, a work queue), the dead-letter stream
(:func:`ensure_dead_letter_stream`, kept by age and size), and the records buckets of call
status and batches (:func:`open_bucket`). Every component may be the first to start, so
each creates what it uses, with the same configuration.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import (
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
    StreamInfo,
)
from nats.js.errors import APIError, BadRequestError
from nats.js.kv import KeyValue

__all__ = [
    "StreamConfigError",
    "apply_stream_config",
    "ensure_callback_stream",
    "ensure_dead_letter_stream",
    "ensure_stream",
    "follow_writes",
    "open_bucket",
    "stream_config",
]


_KV_OPERATION = "KV-Operation"
"""The header of a key-value delete or purge."""


class StreamConfigError(RuntimeError):
    """The stream exists with a configuration that cannot be changed in place (e.g. its retention)."""


def stream_config(
    stream: str, *, duplicate_window: float = 120.0, replicas: int = 1, schedules: bool = True
) -> StreamConfig:
    """The calls' stream configuration.

    File storage (a 202 survives a restart of NATS), work-queue retention (a call is deleted
    once a worker acks it), every queue's subject, a duplicate window for call-id dedup,
    ``replicas`` copies on a NATS cluster (3: a call survives the loss of one node), and
    JetStream's message schedules: a delayed call waits as a schedule, which the server
    publishes onto its queue when it is due (:func:`calls.wire.scheduled`).
    """
    return StreamConfig(
        name=stream,
        subjects=[f"{stream}.>"],
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        duplicate_window=duplicate_window,
        num_replicas=replicas,
        allow_msg_schedules=schedules or None,
    )


async def ensure_stream(
    js: JetStreamContext, stream: str, *, duplicate_window: float = 120.0, replicas: int = 1, schedules: bool = True
) -> StreamInfo:
    """Create the calls' stream (:func:`stream_config`), or bring an existing one to that configuration.

    Raises:
        StreamConfigError: the stream exists and JetStream refuses to change it (retention, storage),
            or JetStream refuses the configuration (more replicas than a single server or the cluster has).
    """
    config = stream_config(stream, duplicate_window=duplicate_window, replicas=replicas, schedules=schedules)
    return await apply_stream_config(js, config)


async def ensure_dead_letter_stream(
    js: JetStreamContext, stream: str, *, max_age: float, max_bytes: int, replicas: int = 1
) -> StreamInfo:
    """Create the dead-letter stream, or bring an existing one to this configuration.

    File storage, limits retention (dead letters stay until redriven, purged, or older than
    ``max_age`` seconds; the oldest go first beyond ``max_bytes``, -1: no limit), one message per
    subject, ``replicas`` copies on a NATS cluster.

    Raises:
        StreamConfigError: the stream exists and JetStream refuses to change it.
    """
    config = StreamConfig(
        name=stream,
        subjects=[f"{stream}.>"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=max_age,
        max_bytes=max_bytes,
        discard=DiscardPolicy.OLD,
        max_msgs_per_subject=1,
        num_replicas=replicas,
    )
    return await apply_stream_config(js, config)


async def ensure_callback_stream(js: JetStreamContext, stream: str, *, replicas: int = 1) -> StreamInfo:
    """Create the stream of pending callbacks, or bring an existing one to this configuration.

    File storage, work-queue retention (a callback is deleted once delivered or given up on),
    a duplicate window so that a result stored twice (its run redelivered) is delivered once,
    and message schedules: a callback its worker is delivering waits as a schedule, which
    JetStream hands to every worker's callback sender only if that worker never deletes it.
    """
    config = StreamConfig(
        name=stream,
        subjects=[f"{stream}.>"],
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        duplicate_window=120.0,
        num_replicas=replicas,
        allow_msg_schedules=True,
    )
    return await apply_stream_config(js, config)


async def apply_stream_config(js: JetStreamContext, config: StreamConfig) -> StreamInfo:
    """Create a stream with ``config``, or update the existing one to it.

    Raises:
        StreamConfigError: JetStream refuses the configuration, or the stream exists and JetStream
            refuses to change it (retention, storage).
    """
    try:
        return await js.add_stream(config)
    except BadRequestError:  # it exists with another configuration
        pass
    except APIError as exc:  # e.g. more replicas than the cluster has servers
        raise StreamConfigError(f"JetStream refuses stream {config.name!r}: {exc.description}") from None
    try:
        return await js.update_stream(config)
    except APIError as exc:
        raise StreamConfigError(
            f"stream {config.name!r} exists with a configuration faasq cannot change ({exc.description}): "
            "delete it or configure another stream name"
        ) from None


async def open_bucket(js: JetStreamContext, bucket: str, ttl: timedelta | None, replicas: int = 1) -> KeyValue:
    """Create a records bucket, or bind to it.

    File storage, one revision per key, records expire after ``ttl`` (None: never), ``replicas``
    copies on a NATS cluster. An existing bucket is brought to ``ttl`` and ``replicas``; its other
    settings are left as they are.

    Raises:
        StreamConfigError: JetStream refuses the configuration (more replicas than the cluster has servers).
    """
    seconds = ttl.total_seconds() if ttl is not None else None
    config = KeyValueConfig(bucket=bucket, history=1, ttl=seconds, storage=StorageType.FILE, replicas=replicas)
    try:
        return await js.create_key_value(config)
    except BadRequestError:  # it exists with another configuration
        pass
    except APIError as exc:
        raise StreamConfigError(f"JetStream refuses bucket {bucket!r}: {exc.description}") from None
    info = await js.stream_info(f"KV_{bucket}")
    if (info.config.max_age or 0.0) != (seconds or 0.0) or info.config.num_replicas != replicas:
        info.config.max_age = seconds or 0.0
        info.config.num_replicas = replicas
        try:
            await js.update_stream(info.config)
        except APIError as exc:
            raise StreamConfigError(f"JetStream refuses to change bucket {bucket!r}: {exc.description}") from None
    return await js.key_value(bucket)


async def follow_writes(
    js: JetStreamContext, bucket: str, writes: int, seen: Callable[[str, bytes | None], None]
) -> tuple[Subscription, asyncio.Event]:
    """Follow a key-value bucket's writes, from its last ``writes`` on (an ordered consumer of its stream).

    ``seen`` gets each write's key and value (None: the key was deleted or purged). The event is
    set once the writes that were there when it started have all been seen.
    """
    stream = f"KV_{bucket}"
    prefix = f"$KV.{bucket}."
    last = (await js.stream_info(stream)).state.last_seq
    caught_up = asyncio.Event()
    if last == 0:
        caught_up.set()

    async def written(msg: Msg) -> None:
        removed = msg.headers is not None and bool(msg.headers.get(_KV_OPERATION))
        seen(msg.subject.removeprefix(prefix), None if removed else msg.data)
        if msg.metadata.sequence.stream >= last:
            caught_up.set()

    config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=max(1, last - writes + 1))
    sub = await js.subscribe(f"{prefix}>", stream=stream, ordered_consumer=True, config=config, cb=written)
    return sub, caught_up
