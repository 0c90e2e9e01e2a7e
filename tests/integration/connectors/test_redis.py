"""The Redis connector against a real Valkey server and the real gateway: Pub/Sub, streams, retries, dead letters."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from connectors.redis.config import RedisSettings
from connectors.redis.connector import RedisConnector
from connectors.redis.deliveries import RedisDeliveryLog
from connectors.sdk import run_connector
from tests.support.connector_kit import Gateway, deploy, lines, logging_function, unique
from tests.support.paths import ROOT
from tests.support.polling import eventually
from tests.support.redis_server import start_redis

pytestmark = pytest.mark.integration

GROUP = "faasq"


def settings(gateway: Gateway, redis_url: str, **overrides: object) -> RedisSettings:
    values = {
        "gateway_url": gateway.url,
        "redis_url": redis_url,
        "redis_group_start": "0",  # entries added before the group exists are consumed too: no race with start-up
        "redis_block": "0.1s",
        "redis_claim_idle": "0.5s",
        "rebuild_interval": "0.2s",
        "rebuild_timeout": "1s",
        "upstream_timeout": "10s",
        **overrides,
    }
    return RedisSettings.model_validate(values)


@pytest.fixture
async def client(redis_server: str) -> AsyncIterator[aioredis.Redis]:
    connection = aioredis.Redis.from_url(redis_server)
    try:
        yield connection
    finally:
        await connection.aclose()


@asynccontextmanager
async def connector(values: RedisSettings) -> AsyncIterator[RedisConnector]:
    stop = asyncio.Event()
    running = RedisConnector(values)
    task = asyncio.create_task(run_connector(running, stop))
    try:
        yield running
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=20)


async def settled(client: aioredis.Redis, stream: str) -> bool | None:
    """True once the group has delivered the stream's entries and none is pending."""
    groups = await client.xinfo_groups(stream)
    done = groups and groups[0]["pending"] == 0 and groups[0]["entries-read"] == await client.xlen(stream)
    return True if done else None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def pending(client: aioredis.Redis, stream: str) -> list[dict[str, Any]]:
    return list(await client.xpending_range(stream, GROUP, min="-", max="+", count=100))


async def test_published_messages_reach_the_functions_of_their_channel_or_pattern(
    gateway: Gateway, redis_server: str, client: aioredis.Redis, tmp_path: Path
) -> None:
    channel, news = unique("chan"), unique("news")
    await deploy(gateway, unique("direct"), logging_function(tmp_path / "direct"), {"topic": channel})
    await deploy(gateway, unique("mapped"), logging_function(tmp_path / "mapped"), {"topic": "headlines"})
    values = settings(
        gateway, redis_server, redis_channels=channel, redis_patterns=f"{news}.*", redis_topic_map=f"{news}.*=headlines"
    )
    async with connector(values):
        await eventually(lambda: _subscribed(client, channel), within=10)
        await eventually(lambda: _pattern_subscribed(client), within=10)
        assert await client.publish(channel, b"first") == 1
        assert await client.publish(f"{news}.sports", b"goal") == 1
        await eventually(lambda: _lines_are(tmp_path / "direct", ["first"]), within=10)
        await eventually(lambda: _lines_are(tmp_path / "mapped", ["goal"]), within=10)


async def _lines_are(path: Path, expected: list[str]) -> bool | None:
    return True if lines(path) == expected else None


async def test_a_stream_entry_reaches_every_function_and_is_acknowledged(
    gateway: Gateway, redis_server: str, client: aioredis.Redis, tmp_path: Path
) -> None:
    stream = unique("orders")
    await deploy(gateway, unique("one"), logging_function(tmp_path / "one"), {"topic": "new-orders"})
    await deploy(gateway, unique("two"), logging_function(tmp_path / "two"), {"topic": "new-orders"})
    await client.xadd(stream, {"body": b"order-1", "content_type": b"text/plain"})
    await client.xadd(stream, {"order": b"2"})  # no body field: the entry as JSON
    async with connector(settings(gateway, redis_server, redis_streams=stream, redis_topic_map=f"{stream}=new-orders")):
        await eventually(lambda: settled(client, stream), within=20)
    expected = sorted(["order-1", '{"order": "2"}'])
    assert sorted(lines(tmp_path / "one")) == expected
    assert sorted(lines(tmp_path / "two")) == expected
    assert await pending(client, stream) == []
    assert await client.keys(f"faasq:deliveries:{GROUP}:{stream}/*") == []


async def test_a_retry_after_a_partial_failure_calls_only_the_function_that_failed(
    gateway: Gateway, redis_server: str, client: aioredis.Redis, tmp_path: Path
) -> None:
    stream = unique("partial")
    good, flaky = tmp_path / "good", tmp_path / "flaky"
    await deploy(gateway, unique("good"), logging_function(good), {"topic": stream})
    await deploy(gateway, unique("flaky"), logging_function(flaky, fail_first=tmp_path / "failed"), {"topic": stream})
    entry_id = _text(await client.xadd(stream, {"body": b"order-1"}))
    async with connector(settings(gateway, redis_server, redis_streams=stream)):
        await eventually(lambda: settled(client, stream), within=20)
    assert (tmp_path / "failed").exists()  # the flaky function refused the first delivery
    assert lines(good) == ["order-1"]
    assert lines(flaky) == ["order-1"]
    assert await client.exists(f"faasq:deliveries:{GROUP}:{stream}/{entry_id}") == 0


async def test_stream_entries_added_while_the_gateway_is_down_are_delivered_when_it_returns(
    gateway: Gateway, redis_server: str, client: aioredis.Redis, tmp_path: Path
) -> None:
    stream, log = unique("outage"), tmp_path / "calls"
    await deploy(gateway, unique("outage"), logging_function(log), {"topic": stream})
    values = settings(gateway, redis_server, redis_streams=stream, upstream_timeout="1s", redis_max_deliveries=1000)
    async with connector(values):
        await eventually(lambda: _group_exists(client, stream), within=10)
        await gateway.stop()
        for n in range(3):
            await client.xadd(stream, {"body": f"event-{n}".encode()})

        async def retried() -> bool | None:
            counts = [row["times_delivered"] for row in await pending(client, stream)]
            return True if len(counts) == 3 and min(counts) >= 2 else None

        await eventually(retried, within=20)
        await gateway.start()
        await eventually(lambda: settled(client, stream), within=20)
    assert sorted(lines(log)) == ["event-0", "event-1", "event-2"]


async def _group_exists(client: aioredis.Redis, stream: str) -> bool | None:
    return True if await client.exists(stream) and await client.xinfo_groups(stream) else None


async def test_an_entry_pending_on_a_dead_consumer_is_claimed_and_delivered(
    gateway: Gateway, redis_server: str, client: aioredis.Redis, tmp_path: Path
) -> None:
    stream, log = unique("stuck"), tmp_path / "calls"
    await deploy(gateway, unique("stuck"), logging_function(log), {"topic": stream})
    await client.xgroup_create(stream, GROUP, id="0", mkstream=True)
    await client.xadd(stream, {"body": b"stuck"})
    taken: Any = await client.xreadgroup(GROUP, "dead-consumer", {stream: ">"}, count=10)
    assert len(taken[0][1]) == 1  # read by a consumer that then died: never acknowledged
    async with connector(settings(gateway, redis_server, redis_streams=stream, redis_consumer="alive")):
        await eventually(lambda: settled(client, stream), within=20)
    assert lines(log) == ["stuck"]
    consumers = {row["name"]: row["pending"] for row in await client.xinfo_consumers(stream, GROUP)}
    assert consumers == {b"dead-consumer": 0, b"alive": 0}


async def test_an_entry_refused_max_deliveries_times_goes_to_the_dead_letter_stream(
    gateway: Gateway, redis_server: str, client: aioredis.Redis, tmp_path: Path
) -> None:
    stream, log, name = unique("poison"), tmp_path / "calls", unique("refuses")
    refuses = f"sh -c 'echo \"$(cat)\" >> {log}; exit 1'"
    await deploy(gateway, name, refuses, {"topic": stream})
    entry_id = _text(await client.xadd(stream, {"body": b"poison", "id": b"7"}))
    values = settings(gateway, redis_server, redis_streams=stream, redis_max_deliveries=2)
    async with connector(values):
        dead = await eventually(lambda: _entries(client, f"{stream}:dead"), within=20)
        await eventually(lambda: settled(client, stream), within=20)
    assert lines(log) == ["poison", "poison"]
    [(_, fields)] = dead
    reason = fields.pop(b"faasq:reason").decode()
    assert fields == {
        b"body": b"poison",
        b"id": b"7",
        b"faasq:stream": stream.encode(),
        b"faasq:id": entry_id.encode(),
        b"faasq:deliveries": b"2",
    }
    assert reason == f"1 of 1 functions did not accept the event: {name}: 500 (delivery 2 of 2)"


async def _entries(client: aioredis.Redis, stream: str) -> list[Any] | None:
    found: Any = await client.xrange(stream)
    return found or None


async def test_the_connector_reconnects_after_redis_restarts(
    gateway: Gateway, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="connectors.redis.connection")
    stream, log = unique("restart"), tmp_path / "calls"
    await deploy(gateway, unique("restart"), logging_function(log), {"topic": stream})
    server = await asyncio.to_thread(start_redis, tmp_path / "redis")
    url = f"unix://{server.unix_socket_path}"
    client = aioredis.Redis.from_url(url)
    try:
        values = settings(gateway, url, redis_streams=stream, redis_channels=stream, redis_reconnect_max="0.5s")
        async with connector(values):
            await eventually(lambda: _group_exists(client, stream), within=10)
            await asyncio.to_thread(server.stop)
            await eventually(lambda: _logged(caplog, "streams: lost "), within=10)
            await eventually(lambda: _logged(caplog, "pub/sub: lost "), within=10)
            await asyncio.to_thread(server.start, 30)  # empty: no persistence, the group is created again
            await eventually(lambda: _logged(caplog, "streams: connected to "), within=20)
            await client.xadd(stream, {"body": b"after"})
            await eventually(lambda: settled(client, stream), within=20)
            await eventually(lambda: _subscribed(client, stream), within=20)
            assert await client.publish(stream, b"published") == 1
            await eventually(lambda: _lines_are(log, ["after", "published"]), within=10)
    finally:
        await client.aclose()
        await asyncio.to_thread(server.stop)


async def _subscribed(client: aioredis.Redis, channel: str) -> bool | None:
    return True if dict(await client.pubsub_numsub(channel)).get(channel.encode()) == 1 else None


async def _pattern_subscribed(client: aioredis.Redis) -> bool | None:
    return True if await client.pubsub_numpat() >= 1 else None


async def _logged(caplog: pytest.LogCaptureFixture, text: str) -> bool | None:
    return True if any(text in record.getMessage() for record in caplog.records) else None


async def test_faasq_connector_redis_runs_as_a_process(
    gateway: Gateway, redis_server: str, client: aioredis.Redis, tmp_path: Path
) -> None:
    stream, log = unique("process"), tmp_path / "calls"
    await deploy(gateway, unique("process"), logging_function(log), {"topic": stream})
    env = os.environ | {
        "gateway_url": gateway.url,
        "redis_url": redis_server,
        "redis_streams": stream,
        "redis_group_start": "0",
        "redis_block": "0.2s",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "connectors.main", "redis", env=env, cwd=ROOT, stderr=asyncio.subprocess.PIPE
    )
    try:
        await client.xadd(stream, {"body": b"from a process"})
        await eventually(lambda: settled(client, stream), within=30)
    finally:
        process.terminate()
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, stderr.decode()
    assert lines(log) == ["from a process"]
    assert "redis connector stopped" in stderr.decode()


async def test_delivery_records_live_in_redis_with_a_ttl_and_only_for_stream_entries(client: aioredis.Redis) -> None:
    stream = unique("records")
    first = RedisDeliveryLog(client, "g", [stream], ttl=60)
    await first.record(f"{stream}/1-0", "fn-a")
    await first.record(f"{stream}/1-0", "fn-b")
    await first.record("0123abcd", "fn-a")  # a Pub/Sub message's id: never redelivered, not recorded
    again = RedisDeliveryLog(client, "g", [stream], ttl=60)  # as a restarted connector sees them
    assert await again.accepted(f"{stream}/1-0") == {"fn-a", "fn-b"}
    assert await again.accepted("0123abcd") == frozenset()
    assert 0 < await client.ttl(f"faasq:deliveries:g:{stream}/1-0") <= 60
    assert await RedisDeliveryLog(client, "other", [stream], ttl=60).accepted(f"{stream}/1-0") == frozenset()
    await again.forget(f"{stream}/1-0")
    assert await first.accepted(f"{stream}/1-0") == frozenset()
