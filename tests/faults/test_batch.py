"""A batch of 2,000 items to a flaky function, one of two workers killed in the middle: the batch completes,
its counts are exactly the outcomes the function was set to give, and its completion callback arrives once."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.faults import FUNCTION, Faults, fault_stack
from tests.support.polling import eventually
from tests.support.recorder import failing

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("faults"), pytest.mark.timeout(300)]

ITEMS = 2000
BATCH_ID = "faults-batch"
ATTEMPTS = 3
FAIL_RATE = 0.3
MAX_INFLIGHT = 16
CALLBACKS_PER_HOST = 4
# A run is settled once its callback is delivered: a killed worker leaves unsettled its runs and the
# finished runs whose callback it was sending (per host) or had lined up (up to 4 times as many).
UNSETTLED_AT_A_KILL = MAX_INFLIGHT + 5 * CALLBACKS_PER_HOST
# A short lease: the killed worker's items go to the other one 2 s after their last heartbeat.
# No retry budget: every failure is retried, so which items end dead is known from their ids.
WORKER = {
    "ack_wait": "2s", "max_inflight": str(MAX_INFLIGHT), "fetch_batch": str(MAX_INFLIGHT),
    "max_retry_attempts": str(ATTEMPTS), "initial_retry_wait": "50ms", "max_retry_wait": "200ms",
    "retry_budget": "0", "callback_per_host": str(CALLBACKS_PER_HOST),
}  # fmt: skip


def item(index: int) -> str:
    return f"{BATCH_ID}-{index}"


async def batch_status(faults: Faults, **params: Any) -> dict[str, Any]:
    async with faults.client() as client:
        response = await client.get(f"/async-batches/{BATCH_ID}", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_batch_completes_exactly_through_a_flaky_function_and_a_killed_worker(
    tmp_path: Path, report: Callable[[str], None]
) -> None:
    dead = {item(i) for i in range(ITEMS) if all(failing(item(i), n, FAIL_RATE) for n in range(1, ATTEMPTS + 1))}
    assert dead, "no item here is dead-lettered: pick another batch id"
    with fault_stack(tmp_path, fail_rate=FAIL_RATE) as faults:
        headers = {
            "Content-Type": "application/x-ndjson",
            "X-Batch-Id": BATCH_ID,
            "X-Callback-Url": f"{faults.callbacks.url}/item",
            "X-Batch-Callback-Url": f"{faults.callbacks.url}/batch",
        }
        body = "".join(json.dumps({"n": n}) + "\n" for n in range(ITEMS)).encode()
        async with faults.client() as client:
            accepted = await client.post(f"/async-batches/{FUNCTION}", content=body, headers=headers)
        assert accepted.status_code == 202, accepted.text
        assert accepted.json()["total"] == ITEMS

        killed, _ = faults.workers(2, **WORKER)

        async def under_way() -> int | None:
            done = int((await batch_status(faults))["done"])
            return done if done >= ITEMS // 10 else None

        done_at_kill = await eventually(under_way, within=60, every=0.02)
        killed.kill()
        assert done_at_kill < ITEMS, "the batch was done before the kill: nothing was tested"

        async def finished() -> dict[str, Any] | None:
            status = await batch_status(faults)
            return status if "callback_sent_at" in status else None

        status = await eventually(finished, within=120, every=0.2)
        await faults.settled()

        records = await faults.records([item(i) for i in range(ITEMS)])
        # Exact: the batch's counts are its items' final states, item by item.
        recorded = Counter(record["state"] for record in records.values())
        assert {state: count for state, count in status["counts"].items() if count} == dict(recorded)
        dead_now = {call for call, record in records.items() if record["state"] == "dead"}
        assert set(recorded) <= {"succeeded", "dead"}
        # The function's outcomes are known in advance from the call id and the attempt, except for the items
        # whose run the killed worker took to its grave: their attempts were numbered on from a lost one.
        assert len(dead ^ dead_now) <= UNSETTLED_AT_A_KILL, sorted(dead ^ dead_now)
        batch_callbacks = [call for call in faults.receiver.calls if call.path == "/batch"]
        assert len(batch_callbacks) == 1, [call.body for call in batch_callbacks]
        summary = json.loads(batch_callbacks[0].body)
        assert (summary["batch_id"], summary["total"], set(summary["failed"])) == (BATCH_ID, ITEMS, dead_now)
        assert batch_callbacks[0].headers["x-call-id"] == BATCH_ID
        listed = await batch_status(faults, items="dead", limit=1000)
        assert {entry["call_id"] for entry in listed["items"]} == dead_now
        assert all("503" in entry["reason"] for entry in listed["items"])

        # The killed worker's held callbacks fall due to the other one after ack_wait + callback_timeout.
        async def every_item_called_back() -> bool | None:
            called = {call.headers["x-call-id"] for call in faults.receiver.calls if call.path == "/item"}
            return True if called == {item(i) for i in range(ITEMS)} else None

        await eventually(every_item_called_back, within=60, every=0.2)
        report(
            f"batch of {ITEMS} items ({FAIL_RATE:.0%} of runs failing), a worker killed after {done_at_kill} done: "
            f"{recorded['succeeded']} succeeded, {recorded['dead']} dead, as their records say; one completion "
            f"callback, {status['duration']:.1f}s from acceptance to the last item"
        )
