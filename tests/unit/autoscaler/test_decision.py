"""The autoscaler's rule, as tables: labels, load, replicas and time in; the count and its reason out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest

from autoscaler.decision import Decision, Memory, Signals, Tuning, decide
from provider.types import ScaleLabels, ScaleType, scale_labels

TUNING = Tuning(stabilisation=30, repeat=30, zero_duration=timedelta(minutes=1))
CE = scale_labels({"com.openfaas.scale.min": "1", "com.openfaas.scale.max": "2"})
QUEUE = ScaleLabels(min_replicas=1, max_replicas=4, type=ScaleType.QUEUE, target=5, target_proportion=0.9)


def run(labels: ScaleLabels, ticks: Sequence[tuple[float, Signals]], current: int) -> list[Decision]:
    """Decide at each tick, applying each decision, as the loop does."""
    memory, decisions = Memory(), []
    for now, signals in ticks:
        decision = decide(labels, signals, current, now, memory, TUNING)
        decisions.append(decision)
        memory, current = decision.memory, decision.desired
    return decisions


@pytest.mark.parametrize(
    ("labels", "step"),
    [(CE, 1), (ScaleLabels(max_replicas=20, factor=10), 2), (ScaleLabels(max_replicas=5, factor=20), 1),
     (ScaleLabels(max_replicas=20, factor=100), 20), (ScaleLabels(max_replicas=3, factor=1), 1)],
)  # fmt: skip
def test_a_firing_adds_ceil_max_times_factor_percent(labels: ScaleLabels, step: int) -> None:
    assert labels.step == step


def test_the_invocation_rule_fires_after_5_seconds_repeats_and_resolves_to_min() -> None:
    busy, quiet = Signals(rps=10, success_rps=10), Signals()
    labels = ScaleLabels(min_replicas=1, max_replicas=20, factor=10)  # +2 per firing
    ticks = [(0, busy), (4, busy), (5, busy), (20, busy), (35, busy), (36, quiet), (37, quiet)]
    counts = [d.desired for d in run(labels, ticks, current=1)]
    assert counts == [1, 1, 3, 3, 5, 1, 1]


def test_the_rule_counts_only_200s_and_needs_more_than_5_per_second() -> None:
    failing = Signals(rps=50, success_rps=0)
    exactly = Signals(rps=5, success_rps=5)
    assert [d.desired for d in run(CE, [(0, failing), (10, failing)], current=1)] == [1, 1]
    assert [d.desired for d in run(CE, [(0, exactly), (10, exactly)], current=1)] == [1, 1]


def test_a_dip_below_the_threshold_restarts_the_5_seconds() -> None:
    busy = Signals(rps=10, success_rps=10)
    ticks = [(0, busy), (3, Signals(success_rps=1)), (4, busy), (8, busy), (9, busy)]
    assert [d.desired for d in run(CE, ticks, current=1)] == [1, 1, 1, 1, 2]


def test_the_rule_never_passes_max() -> None:
    busy = Signals(success_rps=100)
    labels = ScaleLabels(min_replicas=1, max_replicas=3, factor=100)
    assert [d.desired for d in run(labels, [(0, busy), (5, busy), (40, busy)], current=1)] == [1, 3, 3]


@pytest.mark.parametrize(
    ("labels", "signals", "current", "desired"),
    [
        (QUEUE, Signals(pending=0), 1, 1),
        (QUEUE, Signals(pending=4), 1, 1),
        (QUEUE, Signals(pending=5), 1, 2),  # 5 / 4.5 = 1.1
        (QUEUE, Signals(pending=9), 1, 2),
        (QUEUE, Signals(pending=400), 1, 4),  # capped at max
        (QUEUE, Signals(pending=400), 0, 4),  # from zero
        (ScaleLabels(type=ScaleType.RPS, target=10, target_proportion=1), Signals(rps=35), 1, 4),
        (ScaleLabels(type=ScaleType.CAPACITY, target=2, target_proportion=1), Signals(in_flight=7), 2, 4),
        (ScaleLabels(min_replicas=3, max_replicas=5, type=ScaleType.RPS), Signals(rps=1), 3, 3),  # never under min
    ],
)
def test_typed_modes_size_replicas_by_load_over_target_times_proportion(
    labels: ScaleLabels, signals: Signals, current: int, desired: int
) -> None:
    assert decide(labels, signals, current, 0, Memory(), TUNING).desired == desired


def test_typed_modes_go_up_at_once_and_down_only_after_the_stabilisation_window() -> None:
    ticks = [(0, Signals(pending=100)), (10, Signals(pending=2)), (29, Signals(pending=2)), (31, Signals(pending=2))]
    decisions = run(QUEUE, ticks, current=1)
    assert [d.desired for d in decisions] == [4, 4, 4, 1]
    assert "stabilisation" in decisions[1].reason


def test_min_equal_to_max_stays_put_under_any_load() -> None:
    labels = scale_labels({"com.openfaas.scale.min": "2", "com.openfaas.scale.max": "2"})
    ticks = [(float(t), Signals(rps=100, success_rps=100, pending=1000)) for t in range(0, 100, 5)]
    assert {d.desired for d in run(labels, ticks, current=2)} == {2}
    queue = scale_labels(
        {"com.openfaas.scale.min": "3", "com.openfaas.scale.max": "3", "com.openfaas.scale.type": "queue"}
    )
    assert {d.desired for d in run(queue, ticks, current=3)} == {3}


def test_a_zero_enabled_function_goes_to_zero_after_idling_and_back_with_load() -> None:
    labels = ScaleLabels(zero=True, zero_duration=timedelta(seconds=10), type=ScaleType.QUEUE, target=5)
    ticks = [
        (0, Signals(rps=1)),
        (1, Signals()),
        (10, Signals()),
        (11, Signals()),
        (12, Signals()),
        (13, Signals(pending=3)),
    ]
    assert [d.desired for d in run(labels, ticks, current=1)] == [1, 1, 1, 0, 0, 1]


def test_a_zero_enabled_function_uses_the_default_duration_without_its_label() -> None:
    labels = ScaleLabels(zero=True)
    ticks = [(0, Signals()), (59, Signals()), (60, Signals())]
    assert [d.desired for d in run(labels, ticks, current=1)] == [1, 1, 0]


def test_without_the_zero_label_an_idle_function_keeps_min() -> None:
    ticks = [(float(t), Signals()) for t in range(0, 600, 60)]
    assert {d.desired for d in run(QUEUE, ticks, current=1)} == {1}


def test_a_function_at_zero_stays_there_until_load_shows() -> None:
    decision = decide(CE, Signals(), 0, 0, Memory(), TUNING)
    assert (decision.desired, decision.reason) == (0, "at zero, no load")
    assert decide(CE, Signals(in_flight=1), 0, 0, Memory(), TUNING).desired == 1


def test_every_decision_says_why() -> None:
    decision = decide(QUEUE, Signals(pending=400), 1, 0, Memory(), TUNING)
    assert decision.reason == "queue: 400 / (5 * 0.9) = 89, within [1, 4]: 4"
    assert decision.changes(1)
    assert not decision.changes(4)
