"""``kill -9`` one of two workers in the middle of 1,000 calls: every call completes, and only the calls
the killed worker had in flight (runs, or callbacks being POSTed) may run or call back twice."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.faults import fault_stack

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("faults"), pytest.mark.timeout(300)]

CALLS = 1000
MAX_INFLIGHT = 8
# A short lease: JetStream hands the killed worker's calls to the other one 2 s after their last heartbeat.
WORKER = {
    "ack_wait": "2s",
    "max_inflight": str(MAX_INFLIGHT),
    "fetch_batch": str(MAX_INFLIGHT),
    "callback_concurrency": str(MAX_INFLIGHT),
}


async def test_a_killed_worker_loses_no_call_and_duplicates_only_its_calls_in_flight(
    tmp_path: Path, report: Callable[[str], None]
) -> None:
    with fault_stack(tmp_path) as faults:
        accepted = await faults.submit(CALLS, headers={"X-Sleep": "0.05"})
        killed, survivor = faults.workers(2, **WORKER)
        await faults.some_called_back(CALLS // 10)
        killed.kill()
        done_at_kill, killed_at = len(faults.called_back()), time.monotonic()
        assert done_at_kill < CALLS, "every call was done before the kill: nothing was tested"
        await faults.all_called_back(accepted, within=90)
        await faults.settled()
        recovered = time.monotonic() - killed_at

        tally = faults.tally(accepted)
        assert (tally.missing, tally.strangers) == (set(), set())
        # Its runs under way, and the callbacks its sender was POSTing when it died.
        assert len(tally.duplicated) <= 2 * MAX_INFLIGHT, tally.duplicated
        senders: dict[str, list[int | None]] = {call: [] for call in tally.duplicated}
        for callback in faults.receiver.calls:
            senders.get(callback.headers["x-call-id"], []).append(callback.sender)
        for call in tally.duplicated:
            # The survivor finished it once: it ran it again, or POSTed again a callback the killed one had sent.
            assert (tally.runs[call] in (1, 2), senders[call].count(survivor.pid)) == (True, 1), (call, senders)
            assert set(senders[call]) <= {killed.pid, survivor.pid}, senders[call]
        assert all(count == 1 for call, count in tally.runs.items() if call not in tally.duplicated)
        report(
            f"{CALLS} calls, worker killed after {done_at_kill} callbacks: {len(tally.duplicated)} calls ran twice "
            f"({sum(tally.callbacks[c] > 1 for c in tally.duplicated)} called back twice; max_inflight "
            f"{MAX_INFLIGHT}); all done {recovered:.1f}s after the kill"
        )
