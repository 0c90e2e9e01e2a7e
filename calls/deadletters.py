"""The dead-letter stream's format: calls given up on, kept aside with why, until redriven or purged.

One stream (default ``faas-dead-letters``, set up by :func:`calls.streams.ensure_dead_letter_stream`)
and one subject per call, ``<stream>.<namespace>.<function>.<call token>``, so that a filter
by function or namespace is a subject filter and a dead letter is found by call id
(``<stream>.*.*.<call token>``) with one "last message by subject" lookup. Each subject keeps
only its newest message: a call dead-lettered again replaces its older dead letter.

A dead letter is the original call as it was queued (the body byte for byte, the ``Faasq-*``
metadata headers) plus ``Faasq-Dead-*`` headers: the kind (the function failed, the call
aged out, or its callback could not be delivered), the reason, the last status (the
function's HTTP status, or what went wrong instead), the attempts and the time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from calls.outcome import Kind
from calls.wire import MalformedCall, QueuedCall, call_token

__all__ = [
    "DEFAULT_DEAD_LETTER_STREAM",
    "DeadLetterEntry",
    "Kind",
    "call_filter",
    "subject_filter",
    "subject_token",
]

DEFAULT_DEAD_LETTER_STREAM = "faas-dead-letters"

KIND = "Faasq-Dead-Kind"
REASON = "Faasq-Dead-Reason"
STATUS = "Faasq-Dead-Status"
ATTEMPTS = "Faasq-Dead-Attempts"
DEAD_AT = "Faasq-Dead-At"

_PLAIN = re.compile(r"[A-Za-z0-9_:-]")
_LINE_BREAKS = re.compile(r"[\r\n]+")


def subject_token(value: str) -> str:
    """A namespace or function name as one subject token, its other characters %-escaped.

    Letters, digits, ``_``, ``:`` and ``-`` stay; a ``.`` would split the token; an empty value becomes ``%``.
    Call ids are tokens as on the queue (:func:`calls.wire.call_token`).
    """
    if not value:
        return "%"
    if all(_PLAIN.match(char) for char in value):
        return value
    return "".join(char if _PLAIN.match(char) else "".join(f"%{b:02X}" for b in char.encode()) for char in value)


def subject_filter(stream: str, *, namespace: str | None = None, function: str | None = None) -> str:
    """The subject filter of the dead letters of a namespace and/or function (None: any)."""
    if namespace is None and function is None:
        return f"{stream}.>"
    ns = subject_token(namespace) if namespace is not None else "*"
    fn = subject_token(function) if function is not None else "*"
    return f"{stream}.{ns}.{fn}.*"


def call_filter(stream: str, call_id: str) -> str:
    """The subject filter of one call's dead letter, whatever its function."""
    return f"{stream}.*.*.{call_token(call_id)}"


@dataclass(frozen=True, slots=True)
class DeadLetterEntry:
    """One call given up on.

    Attributes:
        call: the call as it was queued (its body and metadata unchanged).
        kind: why it was given up on.
        reason: what happened, in a sentence.
        status: the last status: the function's HTTP status (``"500"``), or what went wrong instead
            (``"connection error"``, ``"timeout"``, ``"max-age"``, ``"callback"``).
        attempts: runs of the call, the last included.
        dead_at_ns: when it was given up on, in nanoseconds since the epoch.
        seq: its sequence in the dead-letter stream (0 until stored).
    """

    call: QueuedCall
    kind: Kind
    reason: str
    status: str
    attempts: int
    dead_at_ns: int
    seq: int = 0

    def subject(self, stream: str) -> str:
        """``<stream>.<namespace>.<function>.<call id>``."""
        call = self.call
        return f"{stream}.{subject_token(call.namespace)}.{subject_token(call.function)}.{call_token(call.call_id)}"

    def nats_headers(self) -> dict[str, str]:
        """The call's own headers (without its message id) and the ``Faasq-Dead-*`` ones."""
        headers = self.call.nats_headers(msg_id="")
        headers |= {
            KIND: self.kind.value,
            # A NATS header value must not hold a line break; an error's text may.
            REASON: _LINE_BREAKS.sub(" ", self.reason),
            STATUS: _LINE_BREAKS.sub(" ", self.status),
            ATTEMPTS: str(self.attempts),
            DEAD_AT: str(self.dead_at_ns),
        }
        return headers

    @classmethod
    def from_message(cls, headers: dict[str, str] | None, body: bytes, seq: int) -> DeadLetterEntry:
        """Decode a message of the dead-letter stream.

        Raises:
            MalformedCall: it is not a faasq dead letter.
        """
        call = QueuedCall.from_message(headers, body)
        assert headers is not None  # from_message checked  # noqa: S101
        try:
            kind = Kind(headers.get(KIND, Kind.FUNCTION.value))
            attempts = int(headers.get(ATTEMPTS, "0"))
            dead_at = int(headers.get(DEAD_AT, "0"))
        except ValueError as exc:
            raise MalformedCall(f"dead letter {call.call_id}: undecodable metadata: {exc}") from None
        return cls(call, kind, headers.get(REASON, ""), headers.get(STATUS, ""), attempts, dead_at, seq)
