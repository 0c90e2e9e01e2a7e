"""The cron connector against the real gateway: an every-second schedule in a time zone, overlap forbid."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from connectors.cron.config import CronSettings
from connectors.cron.connector import CronConnector
from connectors.sdk import run_connector
from tests.support.connector_kit import Gateway, deploy, lines, logging_function, unique
from tests.support.polling import eventually

pytestmark = pytest.mark.integration


@asynccontextmanager
async def running_cron(gateway: Gateway) -> AsyncIterator[CronConnector]:
    settings = CronSettings.model_validate({"gateway_url": gateway.url, "rebuild_interval": "0.2s"})
    connector = CronConnector(settings)
    stop = asyncio.Event()
    task = asyncio.create_task(run_connector(connector, stop))
    try:
        yield connector
    finally:
        stop.set()
        await task


async def test_an_every_second_schedule_in_a_time_zone_runs(gateway: Gateway, tmp_path: Path) -> None:
    name, log = unique("tick"), tmp_path / "ticks"
    annotations = {
        "topic": "cron-function",
        "schedule": "* * * * * *",
        "com.faasq.cron.timezone": "Asia/Kathmandu",
        "com.faasq.cron.body": "tick",
    }
    await deploy(gateway, name, logging_function(log), annotations)
    async with running_cron(gateway):
        await eventually(lambda: _at_least(log, 2), within=20)
    assert set(lines(log)) == {"tick"}


async def test_a_bad_schedule_is_skipped_and_the_others_run(
    gateway: Gateway, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good, bad, log = unique("good"), unique("bad"), tmp_path / "good"
    await deploy(gateway, bad, "cat", {"topic": "cron-function", "schedule": "61 * * * *"})
    await deploy(gateway, good, logging_function(log), {"topic": "cron-function", "schedule": "* * * * * *"})
    async with running_cron(gateway):
        await eventually(lambda: _at_least(log, 1), within=20)
    refusals = [r.getMessage() for r in caplog.records if r.getMessage().startswith(f"not scheduling {bad}")]
    assert refusals == [f"not scheduling {bad}: invalid schedule '61 * * * *': croniter cannot read it"]


async def test_overlap_forbid_never_starts_a_slow_function_twice(gateway: Gateway, tmp_path: Path) -> None:
    name, log = unique("slow"), tmp_path / "runs"
    await deploy(gateway, name, logging_function(log, sleep=2.5), {"topic": "cron-function", "schedule": "* * * * * *"})
    async with running_cron(gateway):
        # Each run writes start, sleeps over two ticks, writes end: overlapping runs would interleave.
        await eventually(lambda: _at_least(log, 4), within=30)
    runs = lines(log)
    assert runs[:4] == ["start", "end", "start", "end"]


async def _at_least(log: Path, count: int) -> bool | None:
    return True if len(lines(log)) >= count else None
