"""What becomes of a stream entry after its functions were invoked: acknowledged, left pending, or dead-lettered."""

from __future__ import annotations

from dataclasses import dataclass

from connectors.sdk.events import EventResult

__all__ = ["Ack", "DeadLetter", "Retry", "decide"]


@dataclass(frozen=True)
class Ack:
    """Every subscribed function accepted the entry: XACK it."""


@dataclass(frozen=True)
class Retry:
    """Leave the entry pending: it is claimed again after ``redis_claim_idle``.

    Attributes:
        reason: why it was not done.
    """

    reason: str


@dataclass(frozen=True)
class DeadLetter:
    """Copy the entry to the dead-letter stream with ``reason``, then XACK it."""

    reason: str


def decide(result: EventResult, deliveries: int, max_deliveries: int) -> Ack | Retry | DeadLetter:
    """The verdict on an entry delivered ``deliveries`` times, given what its functions answered.

    An entry nobody subscribes to is not done: a function being redeployed must not lose it.
    """
    if not result.functions:
        reason = f"no function subscribes to topic {result.event.topic!r}"
    elif result.done:
        return Ack()
    else:
        reason = result.describe_failure()
    if deliveries >= max_deliveries:
        return DeadLetter(f"{reason} (delivery {deliveries} of {max_deliveries})")
    return Retry(reason)
