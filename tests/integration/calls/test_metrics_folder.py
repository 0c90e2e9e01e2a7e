"""Every process of a stack counts into one folder and one scrape adds them up, as under ``faasq up``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from plumbing.metrics import MULTIPROCESS_VARIABLE, exposition, prepare_folder, process_gone
from tests.support.metrics import Scrape
from tests.support.paths import ROOT

pytestmark = pytest.mark.integration

LABEL = "f.openfaas-fn"


def _count_in_a_process(folder: Path, invocations: int, in_flight: int) -> int:
    """Record in a new process with the folder set, as a gateway or worker does; its pid."""
    program = (
        "import os; from calls.metrics import CallMetrics; from plumbing.metrics import flush; m = CallMetrics()\n"
        f"for _ in range({invocations}): m.invocation_started({LABEL!r}); m.invoked({LABEL!r}, 200, 0.1)\n"
        f"m.running({LABEL!r}, 'default', {in_flight}); flush(); print(os.getpid())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program],
        env={MULTIPROCESS_VARIABLE: str(folder), "PATH": "/usr/bin:/bin"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


def test_one_scrape_adds_up_every_process_and_forgets_the_live_gauges_of_those_gone(tmp_path: Path) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "counter_1.db").write_bytes(b"an earlier run's series")
    prepare_folder(folder)
    assert list(folder.iterdir()) == []

    first = _count_in_a_process(folder, invocations=2, in_flight=1)
    _count_in_a_process(folder, invocations=3, in_flight=0)
    environ = {MULTIPROCESS_VARIABLE: str(folder)}
    scrape = Scrape.parse(exposition(environ=environ).decode())
    assert scrape.value("gateway_function_invocation_total", function_name=LABEL, code="200") == 5
    assert scrape.value("gateway_function_invocation_started", function_name=LABEL) == 5
    assert scrape.value("gateway_functions_seconds_count", function_name=LABEL, code="200") == 5
    assert scrape.value("faasq_call_runs_in_flight", function_name=LABEL, queue="default") == 1

    process_gone(folder, first)  # its run can no longer be in flight; what it counted stays counted
    scrape = Scrape.parse(exposition(environ=environ).decode())
    assert scrape.value("faasq_call_runs_in_flight", function_name=LABEL, queue="default") == 0
    assert scrape.value("gateway_function_invocation_total", function_name=LABEL, code="200") == 5
