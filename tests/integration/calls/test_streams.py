"""The calls' stream is created with the configuration the contract needs, and brought to it if it differs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import nats
import pytest
from nats.aio.client import Client
from nats.js.api import RetentionPolicy, StorageType, StreamConfig

from calls.streams import StreamConfigError, ensure_dead_letter_stream, ensure_stream, open_bucket
from calls.wire import QueuedCall, queue_subject

pytestmark = pytest.mark.integration


@pytest.fixture
async def client(nats_url: str) -> AsyncIterator[Client]:
    client = await nats.connect(nats_url)
    yield client
    await client.close()


async def test_ensure_stream_creates_then_updates(client: Client, unique_stream: str) -> None:
    js = client.jetstream()
    created = await ensure_stream(js, unique_stream)
    assert (created.config.retention, created.config.storage) == (RetentionPolicy.WORK_QUEUE, StorageType.FILE)
    assert created.config.subjects == [f"{unique_stream}.>"]
    assert (await ensure_stream(js, unique_stream)).config.duplicate_window == 120
    assert (await ensure_stream(js, unique_stream, duplicate_window=60)).config.duplicate_window == 60
    await js.delete_stream(unique_stream)


async def test_a_stream_that_cannot_be_changed_is_a_clear_error(client: Client, unique_stream: str) -> None:
    js = client.jetstream()
    await js.add_stream(StreamConfig(name=unique_stream, subjects=[f"{unique_stream}.>"]))
    with pytest.raises(StreamConfigError, match=f"stream '{unique_stream}' exists .*retention"):
        await ensure_stream(js, unique_stream)
    assert (await js.stream_info(unique_stream)).config.retention == RetentionPolicy.LIMITS
    await js.delete_stream(unique_stream)


async def test_more_replicas_than_the_server_has_is_a_clear_error(client: Client, unique_stream: str) -> None:
    with pytest.raises(StreamConfigError, match=f"stream '{unique_stream}': replicas > 1 not supported"):
        await ensure_stream(client.jetstream(), unique_stream, replicas=3)
    assert (await ensure_stream(client.jetstream(), unique_stream, replicas=1)).config.num_replicas == 1
    await client.jetstream().delete_stream(unique_stream)


async def test_buckets_and_dead_letters_take_the_replicas_too(client: Client, unique_stream: str) -> None:
    js = client.jetstream()
    with pytest.raises(StreamConfigError, match=f"JetStream refuses bucket '{unique_stream}': replicas > 1"):
        await open_bucket(js, unique_stream, timedelta(hours=1), replicas=3)
    with pytest.raises(StreamConfigError, match=f"JetStream refuses stream '{unique_stream}': replicas > 1"):
        await ensure_dead_letter_stream(js, unique_stream, max_age=60, max_bytes=-1, replicas=3)
    kv = await open_bucket(js, unique_stream, None)
    assert (await kv.status()).ttl in (None, 0)
    again = await open_bucket(js, unique_stream, timedelta(hours=1))  # brought to the ttl it is opened with
    assert (await again.status()).ttl == 3600
    await js.delete_key_value(unique_stream)


async def test_a_resent_call_id_is_stored_once(client: Client, unique_stream: str) -> None:
    js = client.jetstream()
    await ensure_stream(js, unique_stream)
    call = QueuedCall(call_id="same-id", function="echo", namespace="openfaas-fn", body=b"hi")
    subject = queue_subject(unique_stream, "default")
    first = await js.publish(subject, call.body, headers=call.nats_headers())
    second = await js.publish(subject, call.body, headers=call.nats_headers())
    assert (first.seq, first.duplicate, second.seq, second.duplicate) == (1, None, 1, True)
    await js.delete_stream(unique_stream)
