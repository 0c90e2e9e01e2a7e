"""SIGTERM to one of two workers under load: its calls in flight finish, and no call runs twice."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.faults import fault_stack

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("faults"), pytest.mark.timeout(300)]

CALLS = 200
MAX_INFLIGHT = 8
WORKER = {"max_inflight": str(MAX_INFLIGHT), "fetch_batch": str(MAX_INFLIGHT)}
_DRAINING = re.compile(r"draining (\d+) calls in flight")


async def test_sigterm_under_load_finishes_the_calls_in_flight_and_runs_every_call_once(
    tmp_path: Path, report: Callable[[str], None]
) -> None:
    with fault_stack(tmp_path) as faults:
        accepted = await faults.submit(CALLS, headers={"X-Sleep": "0.3"})
        stopped, staying = faults.workers(2, **WORKER)
        await faults.some_called_back(CALLS // 10)
        signalled = time.monotonic()
        assert stopped.terminate() == 0, "\n".join(stopped.lines())
        drain = time.monotonic() - signalled
        assert len(faults.called_back()) < CALLS, "every call was done before the signal: nothing was tested"
        await faults.all_called_back(accepted, within=60)
        await faults.settled()

        tally = faults.tally(accepted)
        assert (tally.missing, tally.strangers, tally.duplicated) == (set(), set(), set())
        lines = stopped.lines()
        (draining,) = [int(found.group(1)) for line in lines if (found := _DRAINING.search(line))]
        assert 1 <= draining <= MAX_INFLIGHT, lines
        (summary,) = [line for line in lines if "stopped:" in line]
        assert "0 errors, 0 cancelled at shutdown" in summary, summary
        by_stopped = sum(callback.sender == stopped.pid for callback in faults.receiver.calls)
        by_staying = sum(callback.sender == staying.pid for callback in faults.receiver.calls)
        assert by_stopped + by_staying == CALLS
        report(
            f"{CALLS} calls; SIGTERM with {draining} in flight: drained and exited 0 in {drain:.1f}s; "
            f"{by_stopped} + {by_staying} callbacks, every call ran once"
        )
