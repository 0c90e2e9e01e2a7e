"""Pure decisions of the local provider: runnable deployments, restart backoff and rollout plans.

Scaling labels are read by :mod:`provider.scaling`, shared with the Kubernetes provider.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from provider.errors import InvalidRequest
from provider.scaling import DEFAULT_MAX_REPLICAS, ScalePolicy, clamp_replicas, scale_policy
from provider.types import NETWORK_ANNOTATION, FunctionDeployment

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
    "private_network",
    "restart_delay",
    "scale_policy",
]

NEEDS_PROCESS = (
    "the local provider runs processes, not container images: its image has no local build "
    "('faasq build -f stack.yml' makes one from the function's lang template), and no fprocess/envProcess is set"
)


def check_runnable(deployment: FunctionDeployment) -> None:
    """Check that a watchdog can be started for the deployment: a process to run, a usable environment.

    Raises:
        InvalidRequest: no ``envProcess``, one that cannot be split into words, an impossible envVar, or a
            ``com.faasq.network`` other than ``private`` or ``host``.
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
    network = (deployment.annotations or {}).get(NETWORK_ANNOTATION)
    if network not in (None, "private", "host"):
        raise InvalidRequest(f"{NETWORK_ANNOTATION}: {network!r} is neither 'private' nor 'host'")


def private_network(deployment: FunctionDeployment) -> bool:
    """Whether the function's replicas get a network of their own (where the machine allows namespaces).

    ``com.faasq.network`` decides; without it, http mode does: its server binds a fixed port
    (5000 in OpenFaaS's Python templates), which only a network of its own keeps from colliding
    with another replica's. A private network has loopback only: no way out of the machine.
    """
    choice = (deployment.annotations or {}).get(NETWORK_ANNOTATION)
    if choice is not None:
        return choice == "private"
    return (deployment.env_vars or {}).get("mode") == "http"


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
