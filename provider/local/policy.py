"""Pure decisions of the local provider: scaling labels, clamping, restart backoff and rollout plans.

Scaling rules (labels, as OpenFaaS names them):

- ``com.openfaas.scale.min`` (default 1, at least 1) is the initial replica count and the
  count a function scales back to from zero.
- ``com.openfaas.scale.max`` (default 20) caps every request.
- Scaling to 0 is always allowed when asked for explicitly: ``com.openfaas.scale.zero``
  governs OpenFaaS Pro's idler (automatic scale to zero), which faasq does not run, so the
  label is validated but does not forbid an explicit request.
- ``com.openfaas.scale.factor`` of 0, or min equal to max, fixes the count: any request
  other than 0 gives min.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from provider.errors import InvalidRequest
from provider.types import FunctionDeployment, parse_go_duration

__all__ = [
    "DEFAULT_MAX_REPLICAS",
    "Backoff",
    "Plan",
    "ReplicaView",
    "ScalePolicy",
    "check_runnable",
    "clamp_replicas",
    "count_failures",
    "plan_rollout",
    "restart_delay",
    "scale_policy",
]

SCALE_MIN = "com.openfaas.scale.min"
SCALE_MAX = "com.openfaas.scale.max"
SCALE_FACTOR = "com.openfaas.scale.factor"
SCALE_ZERO = "com.openfaas.scale.zero"
SCALE_ZERO_DURATION = "com.openfaas.scale.zero-duration"
DEFAULT_MAX_REPLICAS = 20
DEFAULT_FACTOR = 20
_BOOLEANS = {"true", "false", "1", "0"}
NEEDS_PROCESS = "the local provider runs processes, not container images: set fprocess/envProcess"


@dataclass(frozen=True)
class ScalePolicy:
    """A function's scaling bounds, read from its labels."""

    min_replicas: int = 1
    max_replicas: int = DEFAULT_MAX_REPLICAS
    factor: int = DEFAULT_FACTOR

    @property
    def fixed(self) -> bool:
        """Whether the replica count is fixed at ``min_replicas`` (factor 0, or min equal to max)."""
        return self.factor == 0 or self.min_replicas == self.max_replicas


def _int_label(labels: Mapping[str, str], key: str, default: int, low: int, high: int | None = None) -> int:
    text = labels.get(key)
    if text is None:
        return default
    try:
        value = int(text.strip())
    except ValueError:
        raise InvalidRequest(f"label {key} must be an integer, got {text!r}") from None
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise InvalidRequest(f"label {key} must be {bounds}, got {value}")
    return value


def _check_optional_labels(labels: Mapping[str, str]) -> None:
    zero = labels.get(SCALE_ZERO)
    if zero is not None and zero.strip().lower() not in _BOOLEANS:
        raise InvalidRequest(f"label {SCALE_ZERO} must be true or false, got {zero!r}")
    duration = labels.get(SCALE_ZERO_DURATION)
    if duration is not None:
        try:
            parse_go_duration(duration)
        except ValueError as exc:
            raise InvalidRequest(f"label {SCALE_ZERO_DURATION}: {exc}") from None


def scale_policy(labels: Mapping[str, str] | None) -> ScalePolicy:
    """Read a function's scaling labels.

    Raises:
        InvalidRequest: a label is not a number, out of range, or min exceeds max.
    """
    labels = labels or {}
    minimum = _int_label(labels, SCALE_MIN, 1, 1)
    maximum = _int_label(labels, SCALE_MAX, max(DEFAULT_MAX_REPLICAS, minimum), 1)
    factor = _int_label(labels, SCALE_FACTOR, DEFAULT_FACTOR, 0, 100)
    if minimum > maximum:
        raise InvalidRequest(f"label {SCALE_MIN} ({minimum}) exceeds {SCALE_MAX} ({maximum})")
    _check_optional_labels(labels)
    return ScalePolicy(min_replicas=minimum, max_replicas=maximum, factor=factor)


def clamp_replicas(requested: int, policy: ScalePolicy) -> int:
    """The replica count a scale request results in (see the module docstring)."""
    if requested <= 0:
        return 0
    if policy.fixed:
        return policy.min_replicas
    return max(policy.min_replicas, min(requested, policy.max_replicas))


def check_runnable(deployment: FunctionDeployment) -> None:
    """Check that a watchdog can be started for the deployment: a process to run, a usable environment.

    Raises:
        InvalidRequest: no ``envProcess``, one that cannot be split into words, or an impossible envVar.
    """
    process = deployment.env_process or ""
    if not process.strip():
        raise InvalidRequest(NEEDS_PROCESS)
    try:
        shlex.split(process)
    except ValueError as exc:
        raise InvalidRequest(f"envProcess {process!r} cannot be split into words: {exc}") from None
    for key, value in (deployment.env_vars or {}).items():
        if not key or "=" in key or "\0" in key or "\0" in value:
            raise InvalidRequest(f"envVars: {key!r} cannot be set in a process environment")
    if "\0" in process:
        raise InvalidRequest("envProcess must not contain NUL characters")


@dataclass(frozen=True)
class Backoff:
    """Restart backoff of a crashing replica: doubling from ``initial`` up to ``maximum`` seconds."""

    initial: float = 0.5
    maximum: float = 30.0
    reset_after: float = 10.0
    """A replica that ran this long before exiting starts its backoff afresh."""


def count_failures(previous: int, ran_for: float, backoff: Backoff) -> int:
    """Consecutive failures after a replica exited having run ``ran_for`` seconds."""
    return 1 if ran_for >= backoff.reset_after else previous + 1


def restart_delay(failures: int, backoff: Backoff) -> float:
    """Seconds to wait before restarting a replica that failed ``failures`` times in a row."""
    if failures <= 0:
        return 0.0
    return min(backoff.maximum, backoff.initial * 2.0 ** min(failures - 1, 32))


@dataclass(frozen=True)
class ReplicaView:
    """What a rollout decision needs to know of a live replica."""

    id: str
    generation: int
    available: bool


@dataclass(frozen=True)
class Plan:
    """Replicas to start (of the current generation) and to stop (by id)."""

    start: int = 0
    stop: tuple[str, ...] = ()


def plan_rollout(desired: int, generation: int, replicas: Sequence[ReplicaView], *, roll_expired: bool) -> Plan:
    """Move live replicas (oldest first) towards ``desired`` replicas of ``generation``.

    Surplus current replicas go newest first. Replicas of older generations keep serving
    until as many current ones are available, or until the roll's deadline has passed;
    unavailable ones go first.
    """
    current = [r for r in replicas if r.generation == generation]
    old = [r for r in replicas if r.generation != generation]
    surplus = current[desired:]
    ready = sum(r.available for r in current[:desired])
    keep = 0 if roll_expired else max(0, desired - ready)
    old_first_to_stop = sorted(old, key=lambda r: r.available)
    retire = old_first_to_stop[: max(0, len(old) - keep)]
    return Plan(
        start=max(0, desired - len(current)),
        stop=tuple(r.id for r in [*reversed(surplus), *retire]),
    )
