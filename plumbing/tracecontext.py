"""W3C Trace Context: the ``traceparent`` and ``tracestate`` headers, read, made and passed on.

A call's trace context travels with it from the gateway through the queue to the function
and the callback. Reading, checking and making one is pure and cheap (no OpenTelemetry), so
a trace is carried even when no spans are exported (:mod:`plumbing.tracing` records those).
"""

from __future__ import annotations

import random
import re
from typing import NamedTuple

__all__ = ["TRACEPARENT", "TRACESTATE", "TraceContext"]

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"

# version-traceid-parentid-flags; a later version may append fields after a dash.
_TRACEPARENT = re.compile(r"\A([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?\Z")
_random = random.Random()  # noqa: S311 - ids, not secrets: as OpenTelemetry's RandomIdGenerator
_INVALID_TRACE = "0" * 32
_INVALID_SPAN = "0" * 16
_STATE = re.compile(r"\A[\x20-\x7e]{0,512}\Z")
"""A ``tracestate`` passed on: printable ASCII, as its members are, up to 512 characters (beyond, it may be dropped)."""


class TraceContext(NamedTuple):
    """One position in a trace: the trace id, the span that is the parent of what comes next, its flags."""

    trace_id: str
    """32 lowercase hex digits."""
    span_id: str
    """16 lowercase hex digits."""
    flags: int = 1
    """Bit 0: sampled."""
    state: str = ""
    """The ``tracestate`` header, passed on as it came (empty: none)."""

    @classmethod
    def parse(cls, traceparent: str | None, tracestate: str | None = None) -> TraceContext | None:
        """The context a request's headers carry, or None if ``traceparent`` is missing or invalid.

        As the specification says, an invalid ``traceparent`` (and the ``tracestate`` with it) is ignored.
        """
        if not traceparent:
            return None
        found = _TRACEPARENT.match(traceparent) or _TRACEPARENT.match(traceparent.strip().lower())
        if found is None:
            return None
        version, trace_id, span_id, flags, rest = found.groups()
        if version == "ff" or (version == "00" and rest) or trace_id == _INVALID_TRACE or span_id == _INVALID_SPAN:
            return None
        state = (tracestate or "").strip()
        return cls(trace_id, span_id, int(flags, 16), state if _STATE.match(state) else "")

    @classmethod
    def start(cls) -> TraceContext:
        """A new trace, sampled, as a service with no caller's context starts one.

        Random ids as OpenTelemetry's own generator makes them (``random``, not a secret: an id
        needs to be unique, not unguessable).
        """
        return cls(f"{_random.getrandbits(128) or 1:032x}", f"{_random.getrandbits(64) or 1:016x}")

    def child(self, span_id: str) -> TraceContext:
        """The same trace with ``span_id`` as the parent of what comes next."""
        return TraceContext(self.trace_id, span_id, self.flags, self.state)

    @property
    def sampled(self) -> bool:
        """Whether the caller records this trace."""
        return bool(self.flags & 1)

    @property
    def traceparent(self) -> str:
        """The ``traceparent`` header (version 00)."""
        return f"00-{self.trace_id}-{self.span_id}-{self.flags:02x}"

    def headers(self) -> list[tuple[str, str]]:
        """``traceparent``, and ``tracestate`` when there is one."""
        if self.state:
            return [(TRACEPARENT, self.traceparent), (TRACESTATE, self.state)]
        return [(TRACEPARENT, self.traceparent)]
