"""Named queues: a slow function on its own queue, served by its own worker, does not hold up the default queue."""

from __future__ import annotations

import pytest
from nats.js import JetStreamContext

from faasq.natsserver import NatsServer
from tests.support.worker import Receiver, call, publish, running, worker_settings

pytestmark = pytest.mark.integration


async def test_a_slow_queue_does_not_delay_the_default_queue(
    nats_server: NatsServer, unique_stream: str, js: JetStreamContext, provider_url: str,
    receiver: tuple[Receiver, str],
) -> None:  # fmt: skip
    app, url = receiver
    slow_worker = worker_settings(nats_server, unique_stream, provider_url, queue="slow", max_inflight=1)
    default_worker = worker_settings(nats_server, unique_stream, provider_url)
    slow = {f"slow-{n}" for n in range(4)}
    fast = {f"fast-{n}" for n in range(5)}
    async with running(slow_worker), running(default_worker):
        for call_id in sorted(slow):  # four calls of about 1.5 s each, one at a time: about 6 s in all
            await publish(
                js, unique_stream, call(call_id, "slow", f"{url}/cb", headers=[("X-Sleep", "1.5")], queue="slow")
            )
        await app.wait_for({"slow-0"}, within=15)  # the slow queue is busy, its backlog waiting
        for call_id in sorted(fast):
            await publish(js, unique_stream, call(call_id, "cat", f"{url}/cb", call_id.encode()))
        await app.wait_for(fast, within=15)
        slow_done_when_fast_done = len(slow & set(app.by_call_id()))
        await app.wait_for(slow, within=30)
    # The default queue's calls did not wait behind the slow queue's backlog.
    assert slow_done_when_fast_done < 4, [(c.headers["x-call-id"], c.at) for c in app.calls]
    arrivals = {c.headers["x-call-id"]: c.at for c in app.calls}
    assert max(arrivals[f] for f in fast) < arrivals["slow-3"]
    assert sorted(slow, key=arrivals.__getitem__) == sorted(slow)  # one at a time, in order
