"""Flow control: the limits a call carries, and the pure rules of the shared state that enforces them.

A function's annotations (``com.faasq.concurrency``, ``concurrency-per-key``, ``rate``,
``rate-burst``) and a call's ``X-Concurrency-Key`` are resolved by the gateway at enqueue
and travel with the call (:class:`Limits`), as its retry settings do. Workers enforce them
through one JetStream key-value bucket (:mod:`calls.flow_store`), one key per *scope*:

- ``run.<namespace>.<function>``: the function's runs under way (:class:`Slots`), and its
  adaptive limit after a 429 (AIMD: halved on a 429, grown by one per window of successes);
- ``key.<namespace>.<function>.<digest>``: the runs of one concurrency key;
- ``rate.<namespace>.<function>``: the token bucket of its rate (:class:`Tokens`);
- ``paused.<namespace>.<function>``: present while its async calls are paused.

Every change is a pure function from the stored value to the next one; the store writes it
revision-checked, so many workers on many machines never both take the last slot.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field, replace
from enum import StrEnum

__all__ = [
    "ADAPTIVE_LAPSE",
    "CONCURRENCY",
    "CONCURRENCY_KEY",
    "PRIORITY",
    "RATE",
    "Limits",
    "Priority",
    "Slots",
    "Tokens",
    "Wait",
    "concurrency_key_of",
    "key_scope",
    "paused_scope",
    "rate_scope",
    "run_scope",
]

CONCURRENCY = "Faasq-Concurrency"
CONCURRENCY_PER_KEY = "Faasq-Concurrency-Per-Key"
CONCURRENCY_KEY = "Faasq-Concurrency-Key"
RATE = "Faasq-Rate"
RATE_BURST = "Faasq-Rate-Burst"
PRIORITY = "Faasq-Priority"

ADAPTIVE_LAPSE = 60.0
"""Seconds without a 429 after which a function's adaptive limit is dropped."""
MAX_KEY_LENGTH = 256


class Wait(StrEnum):
    """Why a call waits before it starts; each is a call status state of the same name."""

    CONCURRENCY = "waiting for concurrency"
    RATE = "rate limited"
    PAUSED = "paused"


class Priority(StrEnum):
    """How soon a call starts among the calls waiting with it: ``high`` ones first, ``low`` ones last."""

    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"

    @property
    def rank(self) -> int:
        """0 for ``high``, 1 for ``normal``, 2 for ``low``: lower starts sooner."""
        return _RANKS[self]

    @classmethod
    def parse(cls, value: str, source: str) -> Priority:
        """The priority ``value`` names (any case), ``source`` being where it came from, for the error.

        Raises:
            ValueError: not one of ``high``, ``normal``, ``low``.
        """
        try:
            return cls(value.strip().lower())
        except ValueError:
            raise ValueError(f"{source} must be one of high, normal, low (got {value!r})") from None


_RANKS = {Priority.HIGH: 0, Priority.NORMAL: 1, Priority.LOW: 2}


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits one call runs under; 0 (or empty) where there is none.

    Attributes:
        concurrency: runs of the function at once, across every worker.
        per_key: runs at once of the calls sharing ``key``.
        key: a digest of the call's ``X-Concurrency-Key`` (:func:`concurrency_key_of`).
        rate: runs of the function started per second (carried as a number, not as annotated).
        burst: runs that may start at once (the token bucket's size); 0 means 1.
    """

    concurrency: int = 0
    per_key: int = 0
    key: str = ""
    rate: float = 0.0
    burst: int = 0

    def __bool__(self) -> bool:
        return bool(self.concurrency or (self.per_key and self.key) or self.rate)

    def nats_headers(self) -> dict[str, str]:
        """The NATS headers that carry these limits."""
        headers: dict[str, str] = {}
        if self.concurrency:
            headers[CONCURRENCY] = str(self.concurrency)
        if self.per_key and self.key:
            headers[CONCURRENCY_PER_KEY] = str(self.per_key)
            headers[CONCURRENCY_KEY] = self.key
        if self.rate:
            headers[RATE] = repr(self.rate)
            if self.burst:
                headers[RATE_BURST] = str(self.burst)
        return headers

    @classmethod
    def from_nats_headers(cls, headers: dict[str, str]) -> Limits | None:
        """The limits a queued message carries, or None.

        Raises:
            ValueError: a value does not read.
        """
        if not any(name in headers for name in (CONCURRENCY, CONCURRENCY_PER_KEY, RATE)):
            return None
        return cls(
            concurrency=int(headers.get(CONCURRENCY, "0")),
            per_key=int(headers.get(CONCURRENCY_PER_KEY, "0")),
            key=headers.get(CONCURRENCY_KEY, ""),
            rate=float(headers.get(RATE, "0")),
            burst=int(headers.get(RATE_BURST, "0")),
        )


def concurrency_key_of(value: str | None) -> str:
    """A digest of a call's ``X-Concurrency-Key`` (any text of 1 to 256 characters); empty when absent.

    A digest travels and names the key's scope: any text becomes a valid header value and key.

    Raises:
        ValueError: empty, or longer.
    """
    if value is None:
        return ""
    if not value.strip() or len(value) > MAX_KEY_LENGTH:
        raise ValueError(f"X-Concurrency-Key must be 1 to {MAX_KEY_LENGTH} characters")
    return hashlib.blake2b(value.encode(), digest_size=16).hexdigest()


def _function(function: str, namespace: str) -> str:
    """``<namespace>.<function>`` as key tokens (``_`` for an empty namespace, which a token cannot be)."""
    return f"{namespace or '_'}.{function}"


def run_scope(function: str, namespace: str) -> str:
    """The key of a function's runs under way."""
    return f"run.{_function(function, namespace)}"


def key_scope(function: str, namespace: str, key: str) -> str:
    """The key of the runs under way of one concurrency key (``key``: its digest)."""
    return f"key.{_function(function, namespace)}.{key}"


def rate_scope(function: str, namespace: str) -> str:
    """The key of a function's rate."""
    return f"rate.{_function(function, namespace)}"


def paused_scope(function: str, namespace: str) -> str:
    """The key present while a function's async calls are paused."""
    return f"paused.{_function(function, namespace)}"


@dataclass(frozen=True)
class Slots:
    """The runs under way in one scope, each a lease that lapses if its worker dies.

    Attributes:
        leases: lease id (worker and call) to the time (epoch seconds) it lapses.
        adaptive: the limit learnt from 429s (AIMD), or None.
        backoff_until: no run starts before this (epoch seconds): the function's last ``Retry-After``.
        last_429: when the function last answered 429 (epoch seconds).
    """

    leases: dict[str, float] = field(default_factory=dict)
    adaptive: float | None = None
    backoff_until: float = 0.0
    last_429: float = 0.0

    def encode(self) -> bytes:
        data: dict[str, object] = {"l": self.leases}
        if self.adaptive is not None:
            data |= {"a": self.adaptive, "b": self.backoff_until, "t": self.last_429}
        return json.dumps(data, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, value: bytes | None) -> Slots:
        if not value:
            return cls()
        data = json.loads(value)
        return cls(data.get("l", {}), data.get("a"), data.get("b", 0.0), data.get("t", 0.0))

    def live(self, now: float) -> dict[str, float]:
        """The leases that have not lapsed."""
        return {lease: until for lease, until in self.leases.items() if until > now}

    def limit(self, configured: int, now: float) -> float:
        """Runs allowed at once now: the configured limit, lowered by the adaptive one (0: none)."""
        cap = float(configured) if configured else math.inf
        if self.adaptive is not None and now - self.last_429 < ADAPTIVE_LAPSE:
            cap = min(cap, math.floor(self.adaptive))
        return cap

    def full(self, configured: int, now: float) -> bool:
        """Whether another run must wait."""
        return now < self.backoff_until or len(self.live(now)) >= self.limit(configured, now)

    def admit(self, lease: str, configured: int, now: float, until: float) -> Slots | None:
        """These slots with ``lease`` taken until ``until``, or None if the scope is full."""
        live = self.live(now)
        if now < self.backoff_until or len(live) >= self.limit(configured, now):  # full
            return None
        live[lease] = until
        return replace(self, leases=live)

    def release(self, lease: str, now: float, *, succeeded: bool = False) -> Slots:
        """These slots without ``lease``; a success grows the adaptive limit by one per window of successes."""
        adaptive = self.adaptive
        if adaptive is not None and (now - self.last_429 >= ADAPTIVE_LAPSE):
            adaptive = None
        elif adaptive is not None and succeeded:
            adaptive += 1 / max(adaptive, 1.0)
        leases = {k: v for k, v in self.live(now).items() if k != lease}
        return replace(self, leases=leases, adaptive=adaptive)

    def refused(self, lease: str, now: float, retry_after: float, running: int = 0) -> Slots:
        """These slots after a run was refused with 429: its lease returned, the adaptive limit halved.

        The limit halves from the runs under way (at least 1; at least ``running``, what the
        caller knows of runs without a lease) once per congestion: 429s answered within a second
        of the last one are the same congestion and do not lower it again.
        """
        running = max(running, len(self.live(now)))
        if self.adaptive is not None and now - self.last_429 < 1.0:
            adaptive = self.adaptive  # the same burst of 429s
        else:
            adaptive = max(1.0, min(self.adaptive or math.inf, running) / 2)
        leases = {k: v for k, v in self.live(now).items() if k != lease}
        backoff = max(self.backoff_until, now + retry_after) if retry_after > 0 else self.backoff_until
        return Slots(leases, adaptive, backoff, now)

    def wakes_at(self, now: float) -> float | None:
        """When a full scope frees by itself (a lease lapses or the backoff ends), if it does."""
        moments = list(self.live(now).values())
        if self.backoff_until > now:
            moments.append(self.backoff_until)
        return min(moments) if moments else None


@dataclass(frozen=True)
class Tokens:
    """A token bucket: ``tokens`` left at time ``at`` (epoch seconds)."""

    tokens: float
    at: float

    def encode(self) -> bytes:
        return json.dumps({"n": self.tokens, "at": self.at}).encode()

    @classmethod
    def decode(cls, value: bytes | None, burst: int, now: float) -> Tokens:
        if not value:
            return cls(float(max(burst, 1)), now)
        data = json.loads(value)
        return cls(float(data["n"]), float(data["at"]))

    def take(self, rate: float, burst: int, now: float) -> tuple[Tokens, float]:
        """The bucket after one run starts, and 0; or, if no token is left, this bucket and seconds until one is."""
        size = float(max(burst, 1))
        tokens = min(size, self.tokens + max(0.0, now - self.at) * rate)
        if tokens >= 1.0:
            return Tokens(tokens - 1.0, now), 0.0
        return self, (1.0 - tokens) / rate
