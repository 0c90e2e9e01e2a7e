"""The function directory: cached lookups, one request per function however many wait, queues by annotation."""

from __future__ import annotations

import asyncio
import re

import pytest

from calls.wire import queue_of
from gateway.errors import FunctionNotFound, ProviderUnavailable, QueueMisconfigured
from gateway.functions import Destination, FunctionDirectory
from tests.support.gateway_fakes import FakeLookup, function


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def directory(lookup: FakeLookup, clock: Clock) -> FunctionDirectory:
    return FunctionDirectory(lookup, stream="faas-request", ttl=5.0, clock=clock)


def test_queue_of_reads_the_annotation() -> None:
    assert queue_of(function("a").annotations) == "default"
    assert queue_of(function("a", queue="slow").annotations) == "slow"
    assert queue_of(function("a", queue="").annotations) == "default"


async def test_a_found_function_is_cached_for_the_ttl(clock: Clock) -> None:
    lookup = FakeLookup(function("echo"), function("slow", queue="slow-lane"))
    functions = directory(lookup, clock)
    assert await functions.destination_of("echo", "openfaas-fn") == Destination("default", "faas-request.default")
    assert await functions.destination_of("slow", "openfaas-fn") == Destination("slow-lane", "faas-request.slow-lane")
    clock.now += 4.9
    await functions.destination_of("echo", "openfaas-fn")
    assert lookup.asked == [("echo", "openfaas-fn"), ("slow", "openfaas-fn")]
    clock.now += 0.2
    await functions.destination_of("echo", "openfaas-fn")
    assert lookup.asked[-1] == ("echo", "openfaas-fn")
    assert len(lookup.asked) == 3


async def test_an_unknown_function_is_asked_again_every_time(clock: Clock) -> None:
    lookup = FakeLookup()
    functions = directory(lookup, clock)
    for _ in range(2):
        with pytest.raises(FunctionNotFound, match="function 'nope' not found in namespace 'openfaas-fn'"):
            await functions.destination_of("nope", "openfaas-fn")
    lookup.functions["nope", "openfaas-fn"] = function("nope")
    assert (await functions.destination_of("nope", "openfaas-fn")).queue == "default"
    assert len(lookup.asked) == 3


async def test_a_deleted_function_is_forgotten_after_the_ttl(clock: Clock) -> None:
    lookup = FakeLookup(function("echo"))
    functions = directory(lookup, clock)
    await functions.destination_of("echo", "openfaas-fn")
    del lookup.functions["echo", "openfaas-fn"]
    clock.now += 6
    with pytest.raises(FunctionNotFound):
        await functions.destination_of("echo", "openfaas-fn")


async def test_concurrent_misses_share_one_lookup(clock: Clock) -> None:
    lookup = FakeLookup(function("echo"))
    lookup.gate = asyncio.Event()
    functions = directory(lookup, clock)
    waiting = [asyncio.create_task(functions.destination_of("echo", "openfaas-fn")) for _ in range(20)]
    await asyncio.sleep(0)
    lookup.gate.set()
    assert {d.subject for d in await asyncio.gather(*waiting)} == {"faas-request.default"}
    assert lookup.asked == [("echo", "openfaas-fn")]


async def test_a_provider_outage_uses_what_was_known(clock: Clock) -> None:
    lookup = FakeLookup(function("echo"))
    functions = directory(lookup, clock)
    await functions.destination_of("echo", "openfaas-fn")
    lookup.down = True
    clock.now += 10
    assert (await functions.destination_of("echo", "openfaas-fn")).queue == "default"
    with pytest.raises(ProviderUnavailable, match="cannot look up function 'other'"):
        await functions.destination_of("other", "openfaas-fn")


async def test_an_invalid_queue_annotation_is_a_clear_error(clock: Clock) -> None:
    functions = directory(FakeLookup(function("bad", queue="no.dots")), clock)
    with pytest.raises(
        QueueMisconfigured, match=re.escape("function 'bad': com.openfaas.queue: invalid queue name 'no.dots'")
    ):
        await functions.destination_of("bad", "openfaas-fn")
