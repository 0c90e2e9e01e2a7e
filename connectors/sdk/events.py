"""What a connector hands the SDK (an :class:`Event`) and what it gets back (an :class:`EventResult`).

An event is done only when every function subscribed to its topic accepted it: a 2xx from
``/function/``, a 202 from ``/async-function/``. The result says which did and which did not,
so a source with acknowledgements (a Redis stream, a webhook sender) acknowledges only a done
event and redelivers the others; a redelivery skips the functions that accepted it already.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field

__all__ = ["Delivery", "Event", "EventResult", "call_id_for"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._:-]+")


def call_id_for(connector: str, event_id: str, function: str) -> str:
    """The ``X-Call-Id`` of one event's call to one function: the same on every retry.

    The gateway stores an async call resent with the same id within its duplicate window
    once, so a retry after a lost answer cannot run the function twice.
    """
    digest = hashlib.sha256(f"{connector}\0{event_id}\0{function}".encode()).hexdigest()[:32]
    prefix = _UNSAFE.sub("-", connector).strip("-._:")[:40] or "connector"
    return f"{prefix}-{digest}"


@dataclass(frozen=True)
class Event:
    """One event from a source, for the functions of its topic.

    Attributes:
        topic: the topic the functions subscribe to.
        body: sent as the request body, byte for byte.
        id: identifies the event across redeliveries (a stream entry id, a webhook delivery id);
            a fresh one when the source has none, so nothing is mistaken for a duplicate.
        content_type: the body's type; the ``content_type`` setting overrides it.
        headers: more headers for the functions.
    """

    topic: str
    body: bytes = b""
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Delivery:
    """One function's answer to one event.

    Attributes:
        function: the function invoked.
        call_id: the call's ``X-Call-Id`` (:func:`call_id_for`).
        status: the HTTP status, or None when there was no answer.
        accepted: whether the function took the event (sync: 2xx, async: 202).
        body: the response body (sync: the function's output).
        headers: the response headers.
        duration: seconds from request to answer.
        error: why there was no answer (unreachable, timed out).
    """

    function: str
    call_id: str
    status: int | None
    accepted: bool
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    duration: float = 0.0
    error: str | None = None

    @property
    def summary(self) -> str:
        """``fn: 200`` or ``fn: unreachable (…)``."""
        return f"{self.function}: {self.status}" if self.status is not None else f"{self.function}: {self.error}"


@dataclass(frozen=True)
class EventResult:
    """What came of invoking an event's functions.

    Attributes:
        event: the event.
        functions: the functions subscribed when it was invoked.
        deliveries: the calls made this time.
        earlier: the functions that had accepted it before, not called again.
    """

    event: Event
    functions: tuple[str, ...]
    deliveries: tuple[Delivery, ...] = ()
    earlier: tuple[str, ...] = ()

    @property
    def accepted(self) -> tuple[str, ...]:
        """Every function that has the event: earlier and now."""
        return tuple(sorted({*self.earlier, *(d.function for d in self.deliveries if d.accepted)}))

    @property
    def failed(self) -> tuple[Delivery, ...]:
        """The calls that were not accepted."""
        return tuple(delivery for delivery in self.deliveries if not delivery.accepted)

    @property
    def done(self) -> bool:
        """Every subscribed function accepted the event: acknowledge it to the source."""
        return not self.failed and set(self.functions) <= set(self.accepted)

    def describe_failure(self) -> str:
        """``2 of 3 functions did not accept the event: b: 500, c: unreachable (…)``."""
        failed = self.failed
        listed = ", ".join(delivery.summary for delivery in failed)
        return f"{len(failed)} of {len(self.functions)} functions did not accept the event: {listed}"
