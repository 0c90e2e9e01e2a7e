"""When ``faasq up`` restarts a crashed child, and when it gives up: pure arithmetic, no processes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["GiveUp", "Restart", "RestartPolicy", "decide_restart", "recent_crashes"]


@dataclass(frozen=True)
class RestartPolicy:
    """How crashed children are restarted.

    Attributes:
        initial_delay: seconds before the first restart; each further crash in the window doubles it.
        max_delay: the longest wait before a restart.
        max_crashes: crashes tolerated within ``window``; one more and ``faasq up`` gives up.
        window: seconds a crash counts for; a child that stays up this long starts afresh.
    """

    initial_delay: float = 0.5
    max_delay: float = 8.0
    max_crashes: int = 5
    window: float = 60.0


@dataclass(frozen=True)
class Restart:
    """Start the child again after ``delay`` seconds."""

    delay: float


@dataclass(frozen=True)
class GiveUp:
    """Crash-looping: stop the stack, saying why."""

    reason: str


def recent_crashes(crashes: Sequence[float], now: float, policy: RestartPolicy) -> list[float]:
    """The crash times (monotonic seconds) still inside the policy's window."""
    return [moment for moment in crashes if now - moment < policy.window]


def decide_restart(crashes: Sequence[float], now: float, policy: RestartPolicy) -> Restart | GiveUp:
    """Restart or give up, given every crash time of a child including the one just seen."""
    count = len(recent_crashes(crashes, now, policy))
    if count > policy.max_crashes:
        times = "once" if count == 1 else f"{count} times"
        return GiveUp(f"it crashed {times} within {policy.window:g}s")
    exponent = min(max(count - 1, 0), 32)
    return Restart(delay=min(policy.max_delay, policy.initial_delay * 2.0**exponent))
