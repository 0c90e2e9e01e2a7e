"""nats-server stops and starts again mid-run: no accepted call is lost, the gateway answers 503 while it is
down and recovers by itself, and the workers reconnect by themselves."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.faults import fault_stack
from tests.support.polling import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("faults"), pytest.mark.timeout(300)]

BEFORE, DURING, AFTER = 300, 20, 100
OUTAGE = 1.0
MAX_INFLIGHT = 8
WORKER = {"max_inflight": str(MAX_INFLIGHT), "fetch_batch": str(MAX_INFLIGHT), "ack_wait": "2s"}
# Short waits, so that a call refused while NATS is down is answered soon.
GATEWAY = {"enqueue_timeout": "1s"}


async def test_a_nats_restart_loses_no_accepted_call(tmp_path: Path, report: Callable[[str], None]) -> None:
    with fault_stack(tmp_path, env=GATEWAY) as faults:
        accepted = await faults.submit(BEFORE, headers={"X-Sleep": "0.02"})
        workers = faults.workers(2, **WORKER)
        await faults.some_called_back(BEFORE // 10)
        faults.stop_nats()
        stopped_at = time.monotonic()
        assert len(faults.called_back()) < BEFORE, "every call was done before the stop: nothing was tested"
        async with faults.client() as client:
            refused = []
            for _ in range(DURING):  # down for a while: about a second
                refused.append(await faults.post(client))
                await asyncio.sleep(OUTAGE / DURING)
            assert [response.status_code for response in refused] == [503] * DURING
            faults.start_nats()
            restarted_at = time.monotonic()

            async def accepted_again() -> str | None:
                response = await faults.post(client)
                assert response.status_code in (202, 503), (response.status_code, response.text)
                return response.headers["X-Call-Id"] if response.status_code == 202 else None

            accepted.append(await eventually(accepted_again, within=30, every=0.05))
            gateway_back = time.monotonic() - restarted_at
        accepted += await faults.submit(AFTER)
        await faults.all_called_back(accepted, within=60)
        await faults.settled()
        done = time.monotonic() - restarted_at

        tally = faults.tally(accepted)
        refused_ids = {response.headers["X-Call-Id"] for response in refused}
        assert tally.missing == set()
        # Only calls in flight at the stop, whose ack was lost with the connection, may run twice.
        assert len(tally.duplicated) <= len(workers) * MAX_INFLIGHT, tally.duplicated
        assert tally.strangers <= refused_ids  # a 503 promises nothing: it may or may not have been stored

        async def reconnected() -> bool | None:
            assert all(worker.process.poll() is None for worker in workers), "a worker exited instead of reconnecting"
            return True if not lagging() else None

        def lagging() -> list[list[str]]:
            return [w.lines()[-20:] for w in workers if not any("NATS: reconnected" in line for line in w.lines())]

        try:
            await eventually(reconnected, within=30, every=0.1)
        except TimeoutError:
            raise AssertionError(f"workers not reconnected: {lagging()}") from None
        report(
            f"{len(accepted)} calls accepted, NATS down {restarted_at - stopped_at:.1f}s: {DURING}/{DURING} refused "
            f"with 503; gateway accepting {gateway_back:.2f}s after the restart; {len(tally.duplicated)} calls ran "
            f"or called back twice; all done {done:.1f}s after the restart"
        )
