"""A node of a three-node JetStream cluster killed (SIGKILL) under a steady load of async calls: no call that got
a 202 is lost, the stack keeps accepting within seconds, and the node catches up once it is back.

The node killed is the gateway's or a worker's (each made not to lead the calls' stream first), or the leader of
the calls' stream. Callers do what the README tells them: a 503 is resent, with the same ``X-Call-Id``, until it
is accepted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import httpx
import pytest

from calls.wire import DEFAULT_STREAM
from tests.support.faults import Faults, fault_stack
from tests.support.nats_cluster import NatsCluster, Node
from tests.support.polling import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("faults"), pytest.mark.timeout(300)]

CALLS = 600
PACE = 0.01
"""Seconds between two new calls: 100 a second."""
MAX_INFLIGHT = 16
CALLBACKS_PER_HOST = 4
REPLICAS = {"nats_stream_replicas": "3"}
# A caller waits at most 2 s for an answer, then resends.
GATEWAY = {**REPLICAS, "enqueue_timeout": "2s"}
WORKER = {
    **REPLICAS,
    "max_inflight": str(MAX_INFLIGHT),
    "fetch_batch": str(MAX_INFLIGHT),
    "callback_per_host": str(CALLBACKS_PER_HOST),
    "ack_wait": "5s",
}
# Each worker may run again what it had in flight and the finished runs whose callback it had not settled,
# when the acks it sent are lost with its node or the stream's leader.
UNSETTLED = 2 * (MAX_INFLIGHT + 5 * CALLBACKS_PER_HOST)


class Caller:
    """Sends calls at a steady pace; resends one that gets a 503 (or no answer) until it gets a 202."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self.accepted_at: dict[str, float] = {}
        self.refused = 0

    async def send(self, count: int) -> list[str]:
        async with httpx.AsyncClient(base_url=self.faults.gateway, timeout=10) as client:
            tasks = []
            for n in range(count):
                tasks.append(asyncio.create_task(self._one(client, f"failover-{n:04d}")))
                await asyncio.sleep(PACE)
            return list(await asyncio.gather(*tasks))

    async def _one(self, client: httpx.AsyncClient, call_id: str) -> str:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = await self.faults.post(client, {"X-Call-Id": call_id})
            except httpx.TransportError:
                response = None
            if response is not None and response.status_code == 202:
                self.accepted_at[call_id] = time.monotonic()
                return call_id
            assert response is None or response.status_code == 503, (response.status_code, response.text)
            assert time.monotonic() < deadline, f"{call_id} not accepted within 60s"
            self.refused += 1
            await asyncio.sleep(0.1)

    def longest_gap(self, after: float) -> float:
        """The longest time without a 202, from ``after`` on."""
        times = sorted([after, *(at for at in self.accepted_at.values() if at >= after)])
        return max((later - earlier for earlier, later in pairwise(times)), default=0.0)


async def _victim(cluster: NatsCluster, which: str) -> Node:
    if which == "leader":
        return await cluster.leader_of(DEFAULT_STREAM)
    node = cluster.serving("faasq-gateway" if which == "gateway" else "faasq-worker-default")
    await cluster.lead_elsewhere(DEFAULT_STREAM, node)
    return node


async def _all_succeeded(faults: Faults, call_ids: list[str]) -> bool | None:
    async with faults.client() as client:
        responses = [await client.get(f"/async-calls/{call_id}") for call_id in call_ids]
    if any(response.status_code == 503 for response in responses):
        return None  # the bucket's stream has no leader yet
    assert [response.status_code for response in responses] == [200] * len(call_ids)
    return True if {response.json()["state"] for response in responses} == {"succeeded"} else None


async def _no_dead_letters(faults: Faults) -> bool | None:
    async with faults.client() as client:
        listed = await client.get("/system/dead-letters")
    if listed.status_code == 503:
        return None
    assert (listed.status_code, listed.json()["items"]) == (200, []), listed.text
    return True


@pytest.mark.parametrize("which", ["gateway", "worker", "leader"])
async def test_a_node_killed_under_load_loses_no_accepted_call(
    tmp_path: Path, report: Callable[[str], None], which: str
) -> None:
    with (
        NatsCluster(tmp_path / "cluster") as cluster,
        fault_stack(tmp_path, env=GATEWAY, cluster=cluster.start()) as faults,
    ):
        faults.workers(2, **WORKER)
        caller = Caller(faults)
        sending = asyncio.create_task(caller.send(CALLS))
        await faults.some_called_back(CALLS // 4)
        victim, leader = await _victim(cluster, which), await cluster.leader_of(DEFAULT_STREAM)
        victim.kill()
        killed_at, sent_at_kill = time.monotonic(), len(caller.accepted_at)
        assert not sending.done(), "every call was sent before the kill: nothing was tested"
        accepted = await sending
        gap = caller.longest_gap(killed_at)
        await faults.all_called_back(accepted, within=120)
        await faults.settled(within=60)
        done = time.monotonic() - killed_at

        tally = faults.tally(accepted)
        assert sorted(accepted) == sorted(f"failover-{n:04d}" for n in range(CALLS))
        assert tally.missing == set()
        assert tally.strangers == set()
        assert len(tally.duplicated) <= UNSETTLED, sorted(tally.duplicated)
        assert gap < 10, f"no call accepted for {gap:.1f}s after the kill"
        # The records and the dead letters have copies on the nodes left: they answer once each stream the lost
        # node led has elected another leader.
        sample = accepted[:: CALLS // 30]
        await eventually(lambda: _all_succeeded(faults, sample), within=30, every=0.2)
        await eventually(lambda: _no_dead_letters(faults), within=30, every=0.2)

        victim.start()
        back_at = time.monotonic()
        await eventually(lambda: cluster.caught_up(DEFAULT_STREAM), within=60, every=0.2)
        caught_up = time.monotonic() - back_at
        report(
            f"{which}'s node ({victim.name}, {'' if victim is leader else 'not '}the stream's leader) killed with "
            f"{sent_at_kill} of {CALLS} calls accepted: all "
            f"{CALLS} called back; {caller.refused} sends refused (503 or no answer) and resent; longest time "
            f"without a 202 after the kill {gap:.2f}s; {len(tally.duplicated)} calls ran or called back twice; "
            f"all done {done:.1f}s after the kill; the node caught up {caught_up:.1f}s after its restart"
        )
