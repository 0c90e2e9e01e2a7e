"""What the series count, through a real gateway, real workers, a real provider and NATS, read from ``/metrics``.

Gateway and workers run in this process and share prometheus-client's registry, as the
processes of a ``faasq up`` stack share their folder; each test reads how much its series
grew, since other tests of the process count too.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from faasq.natsserver import NatsServer
from queue_worker.config import WorkerSettings
from tests.support.gateway_process import running_gateway, settings_for
from tests.support.metrics import Scrape
from tests.support.polling import eventually
from tests.support.sockets import free_port
from tests.support.worker import Receiver, running, worker_settings

pytestmark = pytest.mark.integration

CAT = "cat.openfaas-fn"


@dataclass
class Stack:
    gateway: httpx.AsyncClient
    receiver: Receiver
    callback: str

    async def scrape(self) -> Scrape:
        response = await self.gateway.get("/metrics")
        assert response.status_code == 200, response.text
        return Scrape.parse(response.text)

    async def call(self, function: str, body: bytes = b"x", **headers: str) -> str:
        headers = {"X-Callback-Url": f"{self.callback}/cb", **headers}
        accepted = await self.gateway.post(f"/async-function/{function}", content=body, headers=headers)
        assert accepted.status_code == 202, accepted.text
        return accepted.headers["x-call-id"]


def _worker(nats_server: NatsServer, stream: str, provider_url: str, **fields: object) -> WorkerSettings:
    return worker_settings(
        nats_server, stream, provider_url, initial_retry_wait="10ms", max_retry_wait="10ms",
        callback_attempts=2, callback_initial_wait="10ms", callback_max_wait="10ms", **fields,
    )  # fmt: skip


@pytest.fixture
async def stack(
    nats_server: NatsServer, unique_stream: str, provider_url: str, receiver: tuple[Receiver, str], tmp_path: Path
) -> AsyncIterator[Stack]:
    app, url = receiver
    settings = settings_for(provider_url, nats_server, unique_stream, tmp_path)
    async with running_gateway(settings) as gateway, running(_worker(nats_server, unique_stream, provider_url)):
        yield Stack(gateway, app, url)


async def test_async_runs_count_once_when_the_worker_invokes_through_the_gateway(
    nats_server: NatsServer, unique_stream: str, provider_url: str, receiver: tuple[Receiver, str], tmp_path: Path
) -> None:
    """The gateway counts what passes through it; a worker that goes through it adds nothing more."""
    app, url = receiver
    async with running_gateway(settings_for(provider_url, nats_server, unique_stream, tmp_path)) as gateway:
        address = urlsplit(str(gateway.base_url))
        worker = _worker(
            nats_server, unique_stream, provider_url, gateway_invoke=True,
            faas_gateway_address=address.hostname, faas_gateway_port=address.port,
        )  # fmt: skip
        async with running(worker):
            stack = Stack(gateway, app, url)
            before = await stack.scrape()
            call_id = await stack.call("cat")
            await app.wait_for({call_id})
            after = await stack.scrape()
    assert after.since(before, "gateway_function_invocation_total", function_name=CAT, code="200") == 1
    assert after.since(before, "gateway_function_invocation_started", function_name=CAT) == 1
    assert after.since(before, "faasq_call_runs_total", function_name=CAT, queue="default", outcome="succeeded") == 1


async def test_failed_runs_retries_and_dead_letters_are_counted(stack: Stack, failing: str) -> None:
    label = f"{failing}.openfaas-fn"
    before = await stack.scrape()
    call_id = await stack.call(failing, b"x", **{"X-Retry-Attempts": "2"})
    await stack.receiver.wait_for({call_id})

    async def dead() -> Scrape | None:
        scrape = await stack.scrape()
        counted = scrape.since(
            before, "faasq_dead_letters_total", function_name=label, queue="default", kind="function"
        )
        return scrape if counted == 1 else None

    after = await eventually(dead, within=10)
    assert after.since(before, "faasq_call_runs_total", function_name=label, queue="default", outcome="failed") == 2
    assert after.since(before, "faasq_call_retries_total", function_name=label, queue="default") == 1
    assert after.since(before, "gateway_function_invocation_total", function_name=label, code="500") == 2
    # The callback of the final outcome went through: delivered, though the function failed.
    assert after.since(before, "faasq_callback_duration_seconds_count", function_name=label, outcome="delivered") == 1


async def test_a_callback_that_never_gets_through_is_counted_failed_and_dead_lettered(stack: Stack) -> None:
    before = await stack.scrape()
    stack.receiver.fail_first["/down"] = 2  # both attempts answered 500
    accepted = await stack.gateway.post(
        "/async-function/cat", content=b"x", headers={"X-Callback-Url": f"{stack.callback}/down"}
    )
    assert accepted.status_code == 202

    async def counted() -> Scrape | None:
        scrape = await stack.scrape()
        return scrape if scrape.since(before, "faasq_dead_letters_total", function_name=CAT, queue="default",
                                      kind="callback") == 1 else None  # fmt: skip

    after = await eventually(counted, within=10)
    assert after.since(before, "faasq_callback_duration_seconds_count", function_name=CAT, outcome="failed") == 1


async def test_an_unknown_function_never_becomes_a_label(stack: Stack) -> None:
    names = ["nope-a", "nope-b", "x" * 60]
    for name in names:
        assert (await stack.gateway.post(f"/function/{name}", content=b"x")).status_code == 404
        assert (await stack.gateway.post(f"/async-function/{name}", content=b"x")).status_code == 404
    scrape = await stack.scrape()
    labels = {labels.get("function_name") for name in scrape.names() for labels in scrape.labelled(name)}
    assert not {f"{name}.openfaas-fn" for name in names} & labels
    assert not [label for label in labels if label and "nope" in label]


async def test_a_batch_is_counted_submitted_then_by_how_it_finished(stack: Stack) -> None:
    before = await stack.scrape()
    accepted = await stack.gateway.post(
        "/async-batches/cat", json=["a", "b", "c"], headers={"X-Batch-Callback-Url": f"{stack.callback}/batch"}
    )
    assert accepted.status_code == 202, accepted.text

    async def finished() -> Scrape | None:
        scrape = await stack.scrape()
        return scrape if scrape.since(before, "faasq_batches_total", function_name=CAT, state="succeeded") else None

    after = await eventually(finished, within=10)
    assert after.since(before, "faasq_batches_total", function_name=CAT, state="submitted") == 1
    assert after.since(before, "faasq_calls_enqueued_total", function_name=CAT, queue="default") == 3
    assert after.since(before, "faasq_call_queue_wait_seconds_count", function_name=CAT, queue="default") == 3


async def test_pending_calls_are_read_from_the_queue(
    nats_server: NatsServer, unique_stream: str, provider_url: str, receiver: tuple[Receiver, str], tmp_path: Path
) -> None:
    """Calls stored while no worker runs are pending; once a worker has run them, none are."""
    app, url = receiver
    async with running_gateway(settings_for(provider_url, nats_server, unique_stream, tmp_path)) as gateway:
        stack = Stack(gateway, app, url)
        worker = _worker(nats_server, unique_stream, provider_url)
        async with running(worker):  # creates the queue's consumer, then stops
            await eventually(lambda: _pending(stack, 0), within=10)
        call_ids = {await stack.call("cat") for _ in range(4)}
        assert (await stack.scrape()).value("faasq_queue_pending_calls", queue="default") == 4
        async with running(worker):
            await app.wait_for(call_ids)
            await eventually(lambda: _pending(stack, 0), within=10)


async def _pending(stack: Stack, count: int) -> bool | None:
    scrape = await stack.scrape()
    if ("faasq_queue_pending_calls", frozenset({("queue", "default")})) not in scrape.values:
        return None
    return True if scrape.value("faasq_queue_pending_calls", queue="default") == count else None


async def test_replicas_are_read_from_the_provider(stack: Stack) -> None:
    scrape = await stack.scrape()
    assert scrape.value("gateway_service_count", function_name=CAT) == 1
    assert scrape.value("gateway_service_count", function_name="slow.openfaas-fn") == 1


async def test_with_metrics_off_nothing_is_counted_and_there_is_no_metrics_route(
    nats_server: NatsServer, unique_stream: str, provider_url: str, tmp_path: Path
) -> None:
    settings = settings_for(provider_url, nats_server, unique_stream, tmp_path, metrics=False)
    async with running_gateway(settings) as gateway:
        assert (await gateway.get("/metrics")).status_code == 404
    async with running_gateway(settings_for(provider_url, nats_server, unique_stream, tmp_path)) as counting:
        before = Scrape.parse((await counting.get("/metrics")).text)
    async with running_gateway(settings) as gateway:
        await asyncio.gather(*(gateway.post("/function/cat", content=b"x") for _ in range(3)))
    async with running_gateway(settings_for(provider_url, nats_server, unique_stream, tmp_path)) as counting:
        after = Scrape.parse((await counting.get("/metrics")).text)
    assert after.since(before, "gateway_function_invocation_total", function_name=CAT, code="200") == 0


async def test_a_worker_with_a_metrics_port_serves_its_own_series(
    nats_server: NatsServer, unique_stream: str, provider_url: str, receiver: tuple[Receiver, str], tmp_path: Path
) -> None:
    """As on Kubernetes, where each worker pod is scraped on metrics_port."""
    app, url = receiver
    port = free_port()
    worker = _worker(nats_server, unique_stream, provider_url, metrics_port=port, metrics_bind_address="127.0.0.1")
    async with (
        running_gateway(settings_for(provider_url, nats_server, unique_stream, tmp_path)) as gateway,
        running(worker),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as own,
    ):

        async def served() -> Scrape | None:
            with contextlib.suppress(httpx.ConnectError):  # the worker is still starting
                return Scrape.parse((await own.get("/metrics")).text)
            return None

        before = await eventually(served, within=10)
        call_id = await Stack(gateway, app, url).call("cat")
        await app.wait_for({call_id})
        response = await own.get("/metrics")
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        after = Scrape.parse(response.text)
        assert (await own.get("/other")).status_code == 404
    assert after.since(before, "faasq_call_runs_total", function_name=CAT, queue="default", outcome="succeeded") == 1
    assert after.since(before, "faasq_call_queue_wait_seconds_count", function_name=CAT, queue="default") == 1
