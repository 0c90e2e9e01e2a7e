"""The autoscaler's own series: what it wants for each function, and the changes it made, by cause."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from plumbing.metrics import Tally

__all__ = ["AutoscalerMetrics"]

DESIRED = Gauge(
    "faasq_autoscaler_desired_replicas",
    "Replicas the autoscaler wants for each function, as of its last decision.",
    ["function_name"],
    multiprocess_mode="livemax",
)
DECISIONS = Counter(
    "faasq_autoscaler_decisions_total",
    "Replica changes the autoscaler made, by cause: fired, resolved, load, held, idle (and direction).",
    ["function_name", "reason", "direction"],
)
_DECISIONS = Tally(DECISIONS)


class AutoscalerMetrics:
    """Records the autoscaler's decisions."""

    def __init__(self) -> None:
        self._desired: dict[str, Gauge] = {}

    def desired(self, function: str, replicas: int) -> None:
        """The count wanted for ``function`` now (set, not added: a gauge of this process alone)."""
        child = self._desired.get(function)
        if child is None:
            child = self._desired[function] = DESIRED.labels(function)
        child.set(replicas)

    def decided(self, function: str, reason: str, direction: str) -> None:
        """A change was applied."""
        _DECISIONS.add((function, reason, direction))
