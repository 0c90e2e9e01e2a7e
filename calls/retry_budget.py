"""The retry budget: a function's retries may not outgrow a share of its first attempts.

Retries help a call past a passing fault; when a dependency is down they only multiply
the load on it. Each worker counts, per function and over a sliding window, the first
attempts it made and the retries it allowed: a retry is allowed while the retries stay
within ``share`` of the first attempts, or within ``floor`` (so a function called rarely
can still retry). Past it, the failure is final: the call is dead-lettered with kind
``retry-budget``. As with Envoy's and Finagle's retry budgets, each worker keeps its own
count, so no shared state is written on the failure path.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

__all__ = ["RetryBudget", "RetryBudgets"]

_SLICES = 10
"""The window is counted in this many slices, each dropped whole as it ages out."""


@dataclass
class RetryBudget:
    """First attempts and retries of one function over the last ``window`` seconds.

    Attributes:
        share: retries allowed per first attempt (0.2: one retry for five first attempts).
        window: seconds counted.
        floor: retries allowed per window however few the first attempts.
    """

    share: float
    window: float
    floor: int
    _slices: deque[list[int]] = field(default_factory=deque)
    """[slice number, first attempts, retries], oldest first."""

    def first_attempt(self, now: float) -> None:
        """Count a first attempt."""
        self._slice(now)[1] += 1

    def retry(self, now: float) -> bool:
        """Whether one more retry is within the budget; if so, it is counted."""
        retries, firsts = self.spent(now)
        if retries >= max(self.floor, math.floor(firsts * self.share)):
            return False
        self._slices[-1][2] += 1  # the current slice, which spent() made the last
        return True

    def spent(self, now: float) -> tuple[int, int]:
        """Retries and first attempts counted over the window."""
        self._slice(now)
        return sum(s[2] for s in self._slices), sum(s[1] for s in self._slices)

    def _slice(self, now: float) -> list[int]:
        number = math.floor(now * _SLICES / self.window)
        while self._slices and self._slices[0][0] <= number - _SLICES:
            self._slices.popleft()
        if not self._slices or self._slices[-1][0] != number:
            self._slices.append([number, 0, 0])
        return self._slices[-1]


class RetryBudgets:
    """A :class:`RetryBudget` per function; ``share`` 0: no budget, every retry is allowed."""

    def __init__(self, share: float, window: float, floor: int) -> None:
        self._share = share
        self._window = window
        self._floor = floor
        self._budgets: dict[tuple[str, str], RetryBudget] = {}

    def _of(self, function: str, namespace: str) -> RetryBudget | None:
        if not self._share:
            return None
        key = (function, namespace)
        budget = self._budgets.get(key)
        if budget is None:
            budget = self._budgets[key] = RetryBudget(self._share, self._window, self._floor)
        return budget

    def first_attempt(self, function: str, namespace: str, now: float) -> None:
        """Count a first attempt of the function."""
        if (budget := self._of(function, namespace)) is not None:
            budget.first_attempt(now)

    def refusal(self, function: str, namespace: str, now: float) -> str | None:
        """Why a retry of the function is over its budget, or None (and the retry is counted)."""
        budget = self._of(function, namespace)
        if budget is None or budget.retry(now):
            return None
        retries, firsts = budget.spent(now)
        return (
            f"not retried: the retry budget of {function} is spent ({retries} retries in the last "
            f"{self._window:g}s, for {firsts} first attempts: at most {self._share:.0%} of them, or {self._floor})"
        )
