"""The series' labels: a run's outcome word, a function's name, and nothing else a caller could choose."""

from __future__ import annotations

import pytest

from calls.metrics import CallMetrics, NoMetrics, function_label, run_outcome
from calls.outcome import Failure, Outcome


@pytest.mark.parametrize(
    ("outcome", "word"),
    [
        (Outcome(200), "succeeded"),
        (Outcome(302), "succeeded"),
        (Outcome(404), "failed"),
        (Outcome(500), "failed"),
        (Outcome(None, failure=Failure.TIMEOUT), "timeout"),
        (Outcome(None, failure=Failure.CONNECTION), "unreachable"),
    ],
)
def test_a_run_is_one_of_four_outcomes(outcome: Outcome, word: str) -> None:
    assert run_outcome(outcome) == word


def test_function_names_are_written_as_openfaas_writes_them() -> None:
    assert function_label("echo", "openfaas-fn") == "echo.openfaas-fn"


def test_no_metrics_records_nothing_for_every_method() -> None:
    """Every recording method of CallMetrics has a no-op in NoMetrics, so metrics=false never counts."""
    recording = {name for name in vars(CallMetrics) if not name.startswith("_") and callable(vars(CallMetrics)[name])}
    assert recording
    assert recording <= set(vars(NoMetrics))
    assert (CallMetrics.enabled, NoMetrics.enabled) == (True, False)
