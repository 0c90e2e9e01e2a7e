"""The SDK against the real gateway and provider: topic map rebuilds, a gateway outage, 1:N acknowledgement."""

from __future__ import annotations

from pathlib import Path

import nats
import pytest

from connectors.sdk import ConnectorSettings, Event, open_controller
from faasq.natsserver import NatsServer
from tests.support.connector_kit import Gateway, deploy, lines, logging_function, unique
from tests.support.gateway_process import message_count
from tests.support.polling import eventually

pytestmark = pytest.mark.integration


def settings(gateway: Gateway, **overrides: object) -> ConnectorSettings:
    values = {"gateway_url": gateway.url, "rebuild_interval": "0.1s", "rebuild_timeout": "1s", **overrides}
    return ConnectorSettings.model_validate(values)


async def test_a_topic_change_is_picked_up_at_the_next_rebuild(gateway: Gateway, tmp_path: Path) -> None:
    name, log = unique("sub"), tmp_path / "calls"
    await deploy(gateway, name, logging_function(log), {"topic": " alpha , beta "})
    async with open_controller("test", settings(gateway)) as controller:
        assert name in controller.catalog.subscribers("alpha")
        assert name in controller.catalog.subscribers("beta")
        await deploy(gateway, name, logging_function(log), {"topic": "gamma"}, update=True)

        async def moved() -> bool | None:
            subscribed = controller.catalog.subscribers("gamma") == (name,)
            return True if subscribed and name not in controller.catalog.subscribers("alpha") else None

        await eventually(moved, within=10)
        result = await controller.invoke(Event("gamma", b"hello", content_type="text/plain"))
    assert result.done
    assert [d.status for d in result.deliveries] == [200]
    assert lines(log) == ["hello"]


async def test_the_connector_survives_the_gateway_going_down_and_recovers(gateway: Gateway, tmp_path: Path) -> None:
    name, log = unique("outage"), tmp_path / "calls"
    await deploy(gateway, name, logging_function(log), {"topic": "outage"})
    async with open_controller(
        "test", settings(gateway, rebuild_timeout="0.3s", upstream_timeout="0.5s")
    ) as controller:
        version = controller.catalog.version
        await gateway.stop()
        down = await controller.invoke(Event("outage", b"lost", id="e-1"))
        assert not down.done
        assert [(d.status, d.error) for d in down.deliveries] == [(None, "timed out")]
        assert await controller.catalog.refresh() is False
        assert controller.catalog.subscribers("outage") == (name,)  # the last good map is kept
        await gateway.start()
        assert await eventually(lambda: _refreshed(controller.catalog), within=10)
        again = await controller.invoke(Event("outage", b"back", id="e-1"))
    assert again.done
    assert controller.catalog.version == version
    assert lines(log) == ["back"]


async def _refreshed(catalog: object) -> bool | None:
    from connectors.sdk import FunctionCatalog

    assert isinstance(catalog, FunctionCatalog)
    return True if await catalog.refresh() else None


async def test_a_retry_after_a_partial_failure_calls_only_the_function_that_failed(
    gateway: Gateway, tmp_path: Path
) -> None:
    good, flaky = unique("good"), unique("flaky")
    good_log, flaky_log = tmp_path / "good", tmp_path / "flaky"
    await deploy(gateway, good, logging_function(good_log), {"topic": "orders"})
    await deploy(gateway, flaky, logging_function(flaky_log, fail_first=tmp_path / "failed"), {"topic": "orders"})
    async with open_controller("test", settings(gateway)) as controller:
        event = Event("orders", b"order-1", id="order-1")
        first = await controller.invoke(event)
        assert not first.done
        assert first.accepted == (good,)
        assert [(d.function, d.status) for d in first.failed] == [(flaky, 500)]
        assert "1 of 2 functions did not accept the event" in first.describe_failure()
        second = await controller.invoke(event)
    assert second.done
    assert second.earlier == (good,)
    assert [d.function for d in second.deliveries] == [flaky]
    assert lines(good_log) == ["order-1"]
    assert lines(flaky_log) == ["order-1"]


async def test_a_resent_async_event_is_queued_once_per_function(
    gateway: Gateway, tmp_path: Path, nats_server: NatsServer, unique_stream: str
) -> None:
    first, second = unique("a"), unique("b")
    for name in (first, second):
        await deploy(gateway, name, "cat", {"topic": "queued"})
    async_settings = settings(gateway, asynchronous_invocation=True, callback_url="http://127.0.0.1:9/cb")
    event = Event("queued", b"x", id="evt-7")
    # Two controllers, as after a restart: no delivery records survive, the call ids do.
    for _ in range(2):
        async with open_controller("test", async_settings) as controller:
            result = await controller.invoke(event)
            assert result.done
            assert [d.status for d in result.deliveries] == [202, 202]
    nc = await nats.connect(nats_server.url)
    try:
        assert await message_count(nc, unique_stream) == 2
    finally:
        await nc.close()
