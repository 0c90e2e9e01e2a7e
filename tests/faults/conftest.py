"""Fixtures of the fault tests: a ``report`` of what each test measured, shown at the end of the run.

The fault tests start whole stacks of processes: each module marks itself
``xdist_group("faults")``, so that with ``--dist loadgroup`` they run one after the other
and do not compete with each other for the CPU.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest


@pytest.fixture
def report(record_property: Callable[[str, object], None]) -> Callable[[str], None]:
    """Record one line of what the test measured; ``pytest_terminal_summary`` prints it."""

    def add(line: str) -> None:
        record_property("measured", line)

    return add
