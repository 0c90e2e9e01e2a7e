"""Flow control through a real gateway and worker: calls that cannot wait in the worker wait on the queue."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from faasq.natsserver import NatsServer
from tests.support.gateway_process import running_gateway, settings_for
from tests.support.provider_process import deploy
from tests.support.worker import Receiver, running, worker_settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def single(provider_url: str) -> Iterator[str]:
    """A function ``single`` with ``com.faasq.concurrency: 1`` whose runs take 0.2 s."""
    with httpx.Client(base_url=provider_url, timeout=30) as client:
        fields = {"envProcess": "sh -c 'sleep 0.2; cat'", "annotations": {"com.faasq.concurrency": "1"}}
        deploy(client, {"single": fields})
        yield "single"
        client.request("DELETE", "/system/functions", json={"functionName": "single"})


async def test_calls_that_cannot_wait_in_the_worker_are_stored_again_and_run_as_their_first_attempt(
    nats_server: NatsServer,
    unique_stream: str,
    provider_url: str,
    single: str,
    receiver: tuple[Receiver, str],
    tmp_path: Path,
) -> None:
    app, url = receiver
    settings = settings_for(provider_url, nats_server, unique_stream, tmp_path)
    worker = worker_settings(nats_server, unique_stream, provider_url, max_waiting=0)
    async with running_gateway(settings) as gateway, running(worker) as summaries:
        ids = set()
        for n in range(4):
            accepted = await gateway.post(f"/async-function/{single}", content=f"{n}", headers={"X-Callback-Url": url})
            ids.add(accepted.headers["x-call-id"])
        callbacks = await app.wait_for(ids, within=30)
        records = [(await gateway.get(f"/async-calls/{call_id}")).json() for call_id in ids]
    assert sorted(c[0].body for c in callbacks.values()) == [b"0", b"1", b"2", b"3"]
    assert {c[0].headers["x-retry"] for c in callbacks.values()} == {"1"}  # waiting is not an attempt
    assert {(r["state"], r["attempt"]) for r in records} == {("succeeded", 1)}
    (summary,) = summaries
    assert (summary.done, summary.waited, summary.errors) == (4, 0, 0)
