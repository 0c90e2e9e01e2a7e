"""The load the autoscaler reads from successive scrapes of ``/metrics``."""

from __future__ import annotations

import pytest

from autoscaler.decision import Signals
from autoscaler.observe import History, parse_scrape

ECHO = 'function_name="echo.openfaas-fn"'


def text(ok: float, failed: float = 0, started: float | None = None, enqueued: float = 0, settled: float = 0,
         pending: float = 0) -> str:  # fmt: skip
    """A scrape as the gateway serves it, with the series the autoscaler reads (and one it does not)."""
    started = ok + failed if started is None else started
    return f"""\
# HELP gateway_function_invocation_total Function invocations.
# TYPE gateway_function_invocation_total counter
gateway_function_invocation_total{{code="200",{ECHO}}} {ok}
gateway_function_invocation_total{{code="500",{ECHO}}} {failed}
# HELP gateway_function_invocation_started Started.
# TYPE gateway_function_invocation_started gauge
gateway_function_invocation_started{{{ECHO}}} {started}
# HELP faasq_calls_enqueued_total Enqueued.
# TYPE faasq_calls_enqueued_total counter
faasq_calls_enqueued_total{{{ECHO},queue="default"}} {enqueued}
# HELP faasq_calls_settled_total Settled.
# TYPE faasq_calls_settled_total counter
faasq_calls_settled_total{{{ECHO},queue="default"}} {settled}
# HELP faasq_queue_pending_calls Pending.
# TYPE faasq_queue_pending_calls gauge
faasq_queue_pending_calls{{queue="default"}} {pending}
# HELP faasq_call_runs_total Runs.
# TYPE faasq_call_runs_total counter
faasq_call_runs_total{{{ECHO},outcome="succeeded",queue="default"}} 99
"""


def test_rates_come_from_the_oldest_scrape_in_the_window() -> None:
    history = History(window=10)
    assert history.signals("echo.openfaas-fn", "default") == Signals()
    for at, ok in [(0, 0), (5, 50), (10, 100), (15, 200)]:
        history.add(parse_scrape(text(ok, failed=at), at))
    # 5 to 15: 150 answered 200 and 10 failed in 10 seconds
    signals = history.signals("echo.openfaas-fn", "default")
    assert (signals.success_rps, signals.rps) == (15, 16)


def test_a_counter_that_went_down_was_reset_and_gives_no_negative_rate() -> None:
    history = History(window=10)
    history.add(parse_scrape(text(100), 0))
    history.add(parse_scrape(text(3), 2))
    assert history.signals("echo.openfaas-fn", "default").rps == 0


def test_in_flight_is_started_less_finished() -> None:
    history = History(window=10)
    history.add(parse_scrape(text(10, failed=2, started=15), 0))
    assert history.signals("echo.openfaas-fn", "default").in_flight == 3


@pytest.mark.parametrize(
    ("enqueued", "settled", "pending", "alone", "expected"),
    [
        (400, 100, 300, False, 300),
        (400, 100, 1000, False, 300),  # other functions' calls are on the queue too
        (400, 100, 50, False, 50),  # never more than the queue holds
        (0, 0, 70, True, 70),  # counters reset by a restart: alone on its queue, the queue's count is its own
        (5, 9, 0, False, 0),
    ],
)
def test_pending_calls_are_enqueued_less_settled_bounded_by_the_queue(
    enqueued: float, settled: float, pending: float, alone: bool, expected: float
) -> None:
    history = History(window=10)
    history.add(parse_scrape(text(0, enqueued=enqueued, settled=settled, pending=pending), 0))
    assert history.signals("echo.openfaas-fn", "default", alone=alone).pending == expected


def test_a_function_never_counted_has_no_load() -> None:
    history = History(window=10)
    history.add(parse_scrape(text(5), 0))
    history.add(parse_scrape(text(9), 1))
    assert history.signals("other.openfaas-fn", "default") == Signals()


def test_something_else_than_metrics_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="invalid"):
        parse_scrape("<html>not metrics</html>\n", 0)


def test_prometheus_federation_adds_up_every_pods_counts_and_reads_the_queue_once() -> None:
    """What Prometheus's /federate answers on Kubernetes: one sample per pod, with a timestamp."""
    federated = f"""\
# TYPE gateway_function_invocation_total untyped
gateway_function_invocation_total{{code="200",{ECHO},job="faasq",pod="gateway-a"}} 30 1796410845568
gateway_function_invocation_total{{code="200",{ECHO},job="faasq",pod="gateway-b"}} 12 1796410845568
# TYPE faasq_calls_enqueued_total untyped
faasq_calls_enqueued_total{{{ECHO},pod="gateway-a",queue="default"}} 40 1796410845568
faasq_calls_enqueued_total{{{ECHO},pod="gateway-b",queue="default"}} 20 1796410845568
# TYPE faasq_calls_settled_total untyped
faasq_calls_settled_total{{{ECHO},pod="worker-a",queue="default"}} 25 1796410845568
# TYPE faasq_queue_pending_calls untyped
faasq_queue_pending_calls{{pod="gateway-a",queue="default"}} 35 1796410845568
faasq_queue_pending_calls{{pod="gateway-b",queue="default"}} 35 1796410845568
"""
    scrape = parse_scrape(federated, 0)
    assert (scrape.counts["echo.openfaas-fn"].successes, scrape.counts["echo.openfaas-fn"].enqueued) == (42, 60)
    assert scrape.pending == {"default": 35}
    history = History(window=10)
    history.add(scrape)
    assert history.signals("echo.openfaas-fn", "default").pending == 35
