"""The callback receiver is down for a while, then back: every callback arrives once, every call ran once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.faults import fault_stack
from tests.support.polling import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("faults"), pytest.mark.timeout(300)]

CALLS = 50
OUTAGE = 3.0
# Ten POSTs, 0.1 s apart at first, doubling up to 1 s: they span about 6 s, twice the outage.
WORKER = {"callback_attempts": "10", "callback_initial_wait": "100ms", "callback_max_wait": "1s"}


async def test_callbacks_wait_out_a_receiver_outage(tmp_path: Path, report: Callable[[str], None]) -> None:
    with fault_stack(tmp_path) as faults:
        faults.callbacks.stop()
        down_since = time.monotonic()
        (worker,) = faults.workers(1, **WORKER)
        accepted = await faults.submit(CALLS)

        async def all_ran() -> bool | None:
            return True if set(accepted) <= set(faults.runs()) else None

        await eventually(all_ran, within=30)
        # A deliberate outage: the callbacks retry meanwhile, and none can arrive.
        await asyncio.sleep(max(0.0, OUTAGE - (time.monotonic() - down_since)))
        assert faults.receiver.calls == []
        faults.callbacks.start()
        back_at = time.monotonic()
        down_for = back_at - down_since
        await faults.all_called_back(accepted, within=30)
        delivered_in = time.monotonic() - back_at
        await faults.settled()

        tally = faults.tally(accepted)
        assert (tally.missing, tally.strangers, tally.duplicated) == (set(), set(), set())
        assert {callback.headers["x-function-status"] for callback in faults.receiver.calls} == {"200"}
        assert worker.terminate() == 0
        (summary,) = [line for line in worker.lines() if "stopped:" in line]
        assert f"{CALLS} calls done, 0 retried, 0 dead-lettered, 0 malformed, 0 callbacks failed" in summary, summary
        report(
            f"{CALLS} calls, receiver down {down_for:.1f}s: "
            f"every callback delivered once within {delivered_in:.1f}s of its return; every call ran once"
        )
