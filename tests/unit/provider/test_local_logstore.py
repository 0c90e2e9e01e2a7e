"""Log lines of the local provider: since/tail/instance selection and following."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from provider.local.logstore import FunctionLog, select_logs
from provider.types import LogMessage, LogRequest
from tests.support.polling import eventually

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def line(instance: str, second: int, text: str) -> LogMessage:
    return LogMessage(
        name="fn", namespace="openfaas-fn", instance=instance, timestamp=T0 + timedelta(seconds=second), text=text
    )


LINES = [line("a", 0, "one"), line("b", 1, "two"), line("a", 2, "three"), line("b", 3, "four")]


@pytest.mark.parametrize(
    ("query", "texts"),
    [
        ({}, ["one", "two", "three", "four"]),
        ({"tail": 2}, ["three", "four"]),
        ({"tail": 0}, ["one", "two", "three", "four"]),
        ({"tail": -1}, ["one", "two", "three", "four"]),
        ({"tail": 10}, ["one", "two", "three", "four"]),
        ({"instance": "a"}, ["one", "three"]),
        ({"instance": "a", "tail": 1}, ["three"]),
        ({"since": T0 + timedelta(seconds=2)}, ["three", "four"]),
        ({"since": datetime(2026, 1, 1, 0, 0, 1)}, ["two", "three", "four"]),  # naive means UTC
        ({"since": T0 + timedelta(seconds=1), "instance": "b", "tail": 1}, ["four"]),
        ({"instance": "zzz"}, []),
    ],
)
def test_select_logs(query: dict[str, object], texts: list[str]) -> None:
    request = LogRequest.model_validate({"name": "fn", **query})
    assert [m.text for m in select_logs(LINES, request)] == texts


async def test_the_buffer_keeps_the_newest_lines() -> None:
    log = FunctionLog("fn", "openfaas-fn", capacity=3)
    for n in range(5):
        log.append("a", f"line {n}", T0)
    assert [m.text async for m in log.read(LogRequest(name="fn"))] == ["line 2", "line 3", "line 4"]


async def test_follow_yields_backlog_then_new_lines_until_closed() -> None:
    log = FunctionLog("fn", "openfaas-fn", capacity=100)
    log.append("a", "old")
    log.append("b", "other")
    seen: list[str] = []

    async def follow() -> None:
        async for message in log.read(LogRequest(name="fn", instance="a", follow=True)):
            seen.append(message.text)

    task = asyncio.create_task(follow())
    await eventually(lambda: _true(seen == ["old"]))
    log.append("a", "new 1")
    log.append("b", "skipped")
    log.append("a", "new 2")
    await eventually(lambda: _true(seen == ["old", "new 1", "new 2"]))
    log.close()
    await asyncio.wait_for(task, 1)
    assert seen == ["old", "new 1", "new 2"]
    assert seen[0] == "old"


async def test_a_follower_can_stop_reading() -> None:
    log = FunctionLog("fn", "openfaas-fn", capacity=100)
    reader = log.read(LogRequest(name="fn", follow=True))
    log.append("a", "x")
    first = await anext(reader)
    assert first.text == "x"
    assert (first.name, first.namespace, first.instance) == ("fn", "openfaas-fn", "a")
    await reader.aclose()


async def _true(condition: bool) -> bool | None:
    return True if condition else None
