"""How many replicas a function should have: a pure function of its labels, its load, its replicas and the time.

Three ways to decide, by the function's ``com.openfaas.scale.type`` label:

- **None** (OpenFaaS Community Edition): the rule ``APIHighInvocationRate`` holds while the
  function answers more than 5 invocations per second with a 200; once it has held for 5
  seconds it fires, and every firing (the first, then one every ``repeat``, as
  AlertManager repeats a firing alert) adds ``ceil(max * factor / 100)`` replicas, up to
  max. When the rule stops holding the alert resolves and the function goes back to min.
- **rps, capacity, queue** (OpenFaaS Pro's modes; queue is faasq's backlog): desired =
  ceil(load / (target * target-proportion)), clamped to [min, max]. Up at once; down only
  to the highest count recommended over the last ``stabilisation`` seconds, so a dip does
  not remove replicas that the next burst needs.

On top of either, a function labelled ``com.openfaas.scale.zero`` goes to 0 replicas once it
has had no load at all for its ``zero-duration``, and back to min when load shows (a sync call
or a run scales it from zero in the provider too). min = max, or factor 0 with no type,
leaves the count alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import timedelta

from provider.types import ScaleLabels, ScaleType

__all__ = ["RULE_FOR", "RULE_THRESHOLD", "Decision", "Memory", "Signals", "Tuning", "decide"]

RULE_THRESHOLD = 5.0
"""Invocations per second answered 200 above which OpenFaaS's rule holds."""
RULE_FOR = 5.0
"""Seconds the rule must hold before it fires."""


@dataclass(frozen=True)
class Signals:
    """A function's load, as observed now."""

    rps: float = 0.0
    """Invocations per second, every status, over the last few seconds."""
    success_rps: float = 0.0
    """Invocations per second answered 200 over the last 10 seconds (OpenFaaS's rule)."""
    in_flight: float = 0.0
    """Invocations under way."""
    pending: float = 0.0
    """Async calls stored and not finished."""

    @property
    def idle(self) -> bool:
        """No load of any kind."""
        return self.rps <= 0 and self.in_flight <= 0 and self.pending <= 0

    def load(self, kind: ScaleType) -> float:
        """The load in the unit of ``kind``."""
        match kind:
            case ScaleType.RPS:
                return self.rps
            case ScaleType.CAPACITY:
                return self.in_flight
            case ScaleType.QUEUE:
                return self.pending


@dataclass(frozen=True)
class Tuning:
    """The autoscaler's own settings, the same for every function."""

    stabilisation: float = 30.0
    """Seconds a lower load must last before replicas are removed (typed modes)."""
    repeat: float = 30.0
    """Seconds between two firings of the invocation-rate rule while it holds."""
    zero_duration: timedelta = timedelta(minutes=1)
    """How long a zero-enabled function must be idle, unless its label says."""


@dataclass(frozen=True)
class Memory:
    """What the decisions about one function remember between two ticks."""

    holding_since: float | None = None
    """When the invocation-rate rule started holding."""
    fired_at: float | None = None
    """When it last fired (None: not firing)."""
    recommended: tuple[tuple[float, int], ...] = field(default=())
    """Counts recommended within the stabilisation window, oldest first, with their times."""
    idle_since: float | None = None
    """Since when the function has had no load (None: it has some)."""


@dataclass(frozen=True)
class Decision:
    """The replica count to have, why, and what to remember."""

    desired: int
    reason: str
    """Why, with the figures, for the log."""
    memory: Memory
    cause: str = "steady"
    """Why, in one of a few words (a metric's label): fired, resolved, load, held, idle, fixed, steady."""

    def changes(self, current: int) -> bool:
        """Whether applying it scales the function."""
        return self.desired != current


def decide(labels: ScaleLabels, signals: Signals, current: int, now: float, memory: Memory, tuning: Tuning) -> Decision:
    """The replicas ``labels`` ask for under ``signals``, with ``current`` replicas at time ``now`` (seconds)."""
    idle_since = (memory.idle_since if memory.idle_since is not None else now) if signals.idle else None
    memory = replace(memory, idle_since=idle_since)
    if labels.zero and idle_since is not None:
        idle_for = now - idle_since
        limit = (labels.zero_duration or tuning.zero_duration).total_seconds()
        if current == 0:
            return Decision(0, "idle at zero", _reset(memory), "idle")
        if idle_for >= limit:
            return Decision(0, f"idle for {idle_for:.0f}s (zero-duration {limit:g}s)", _reset(memory), "idle")
    if current == 0 and signals.idle:
        return Decision(0, "at zero, no load", memory)
    if labels.min_replicas == labels.max_replicas or (labels.type is None and labels.factor == 0):
        return Decision(current or labels.min_replicas, "fixed (min = max, or factor 0)", memory, "fixed")
    current = current or labels.min_replicas  # load at zero: from zero to min at least
    if labels.type is None:
        return _invocation_rule(labels, signals, current, now, memory, tuning)
    return _proportional(labels, labels.type, signals, current, now, memory, tuning)


def _reset(memory: Memory) -> Memory:
    return replace(memory, holding_since=None, fired_at=None, recommended=())


def _invocation_rule(
    labels: ScaleLabels, signals: Signals, current: int, now: float, memory: Memory, tuning: Tuning
) -> Decision:
    rate = signals.success_rps
    if rate <= RULE_THRESHOLD:
        if memory.fired_at is not None:
            reason = f"{rate:.1f} invocations/s answered 200, not above {RULE_THRESHOLD:g}: resolved, back to min"
            return Decision(labels.min_replicas, reason, replace(memory, holding_since=None, fired_at=None), "resolved")
        return Decision(current, f"{rate:.1f} invocations/s answered 200", replace(memory, holding_since=None))
    since = memory.holding_since if memory.holding_since is not None else now
    memory = replace(memory, holding_since=since)
    if now - since < RULE_FOR:
        return Decision(current, f"{rate:.1f} invocations/s for {now - since:.0f}s, firing after {RULE_FOR:g}s", memory)
    if memory.fired_at is not None and now - memory.fired_at < tuning.repeat:
        return Decision(current, f"{rate:.1f} invocations/s, firing", memory)
    desired = min(labels.max_replicas, current + labels.step)
    reason = f"{rate:.1f} invocations/s above {RULE_THRESHOLD:g} for {RULE_FOR:g}s: +{labels.step} up to max"
    return Decision(desired, reason, replace(memory, fired_at=now), "fired")


def _proportional(
    labels: ScaleLabels, kind: ScaleType, signals: Signals, current: int, now: float, memory: Memory, tuning: Tuning
) -> Decision:
    load = signals.load(kind)
    per_replica = labels.target * labels.target_proportion
    wanted = math.ceil(load / per_replica - 1e-9) if load > 0 else 0
    bounded = max(labels.min_replicas, min(labels.max_replicas, wanted))
    window = tuple((at, count) for at, count in memory.recommended if now - at < tuning.stabilisation)
    window += ((now, bounded),)
    memory = replace(memory, recommended=window)
    reason = f"{kind}: {load:g} / ({labels.target:g} * {labels.target_proportion:g}) = {wanted}"
    if bounded != wanted:
        reason += f", within [{labels.min_replicas}, {labels.max_replicas}]: {bounded}"
    if bounded >= current:
        return Decision(bounded, reason, memory, "load")
    highest = max(count for _, count in window)
    if highest > bounded:
        held = min(current, highest)
        return Decision(held, f"{reason}; held at {held} for the stabilisation window", memory, "held")
    return Decision(bounded, reason, memory, "load")
