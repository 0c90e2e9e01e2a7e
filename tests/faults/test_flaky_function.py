"""A function that fails about half its runs with 503: every call succeeds within its attempts or ends in the
dead-letter stream with the reason; its one callback and its status record say which."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.faults import FUNCTION, fault_stack
from tests.support.recorder import failing

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("faults"), pytest.mark.timeout(300)]

CALLS = 100
ATTEMPTS = 3
FAIL_RATE = 0.5
# No retry budget (half the first attempts fail, well past it): every failure is retried as its id says.
WORKER = {
    "max_retry_attempts": str(ATTEMPTS),
    "initial_retry_wait": "50ms",
    "max_retry_wait": "200ms",
    "retry_budget": "0",
}


def expected_runs(call_id: str) -> int:
    """Runs until the first that succeeds, or every attempt: the recorder decides each run from its hash."""
    return next((n for n in range(1, ATTEMPTS + 1) if not failing(call_id, n, FAIL_RATE)), ATTEMPTS)


async def test_a_flaky_function_succeeds_within_its_attempts_or_is_dead_lettered_with_the_reason(
    tmp_path: Path, report: Callable[[str], None]
) -> None:
    call_ids = [f"flaky-{n}" for n in range(CALLS)]
    dead = {call for call in call_ids if all(failing(call, n, FAIL_RATE) for n in range(1, ATTEMPTS + 1))}
    retried = {call for call in call_ids if call not in dead and expected_runs(call) > 1}
    assert dead, "no call id here is dead-lettered: pick others"
    assert retried, "no call id here succeeds after a retry: pick others"
    with fault_stack(tmp_path, fail_rate=FAIL_RATE) as faults:
        faults.workers(1, **WORKER)
        accepted = await faults.submit(CALLS, call_ids=call_ids)
        await faults.all_called_back(accepted, within=60)
        await faults.settled()

        tally = faults.tally(accepted)
        assert (tally.missing, tally.strangers) == (set(), set())
        assert dict(tally.runs) == {call: expected_runs(call) for call in call_ids}
        assert dict(tally.callbacks) == dict.fromkeys(call_ids, 1)
        callbacks = {callback.headers["x-call-id"]: callback.headers for callback in faults.receiver.calls}
        for call, headers in callbacks.items():
            status = "503" if call in dead else "200"
            ending = (headers["x-function-status"], headers["x-retry"], headers["x-retry-max"])
            assert ending == (status, str(expected_runs(call)), str(ATTEMPTS)), (call, headers)
        letters = await faults.dead_letters()
        assert set(letters) == dead
        for call, letter in letters.items():
            summary = (letter.kind, letter.status, letter.attempts, letter.call.function)
            assert summary == ("function", "503", ATTEMPTS, FUNCTION), (call, letter)
            assert "503" in letter.reason, letter.reason
        for call, record in (await faults.records(call_ids)).items():
            state = ("dead", ATTEMPTS, 503) if call in dead else ("succeeded", expected_runs(call), 200)
            assert (record["state"], record["attempt"], record["status_code"]) == state, record
            assert ("503" in record.get("reason", "")) == (call in dead), record
        report(
            f"{CALLS} calls, {sum(tally.runs.values())} runs (half failing with 503): "
            f"{CALLS - len(dead)} succeeded ({len(retried)} after retries), {len(dead)} dead-lettered "
            f"after {ATTEMPTS} attempts; one callback each"
        )
