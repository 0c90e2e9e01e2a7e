"""The restart decision: backoff doubling within the window, giving up past the crash limit."""

from __future__ import annotations

import pytest

from faasq.restarts import GiveUp, Restart, RestartPolicy, decide_restart, recent_crashes

POLICY = RestartPolicy(initial_delay=0.5, max_delay=4.0, max_crashes=5, window=60.0)


@pytest.mark.parametrize(
    ("crashes", "now", "verdict"),
    [
        ([100.0], 100.0, Restart(0.5)),
        ([90.0, 100.0], 100.0, Restart(1.0)),
        ([80.0, 90.0, 100.0], 100.0, Restart(2.0)),
        ([70.0, 80.0, 90.0, 100.0], 100.0, Restart(4.0)),
        ([60.0, 70.0, 80.0, 90.0, 100.0], 100.0, Restart(4.0)),  # capped at max_delay
        ([50.0, 60.0, 70.0, 80.0, 90.0, 100.0], 100.0, GiveUp("it crashed 6 times within 60s")),
        # Crashes older than the window are forgiven: a child that stayed up starts afresh.
        ([0.0, 1.0, 2.0, 3.0, 4.0, 100.0], 100.0, Restart(0.5)),
        ([40.0, 100.0], 100.0, Restart(0.5)),
        ([40.1, 100.0], 100.0, Restart(1.0)),
        ([], 100.0, Restart(0.5)),
    ],
)
def test_decide_restart(crashes: list[float], now: float, verdict: Restart | GiveUp) -> None:
    assert decide_restart(crashes, now, POLICY) == verdict


def test_a_policy_that_never_tolerates_a_crash() -> None:
    assert decide_restart([5.0], 5.0, RestartPolicy(max_crashes=0)) == GiveUp("it crashed once within 60s")


def test_recent_crashes_keeps_the_window() -> None:
    assert recent_crashes([1.0, 50.0, 61.0], 110.0, POLICY) == [61.0]
