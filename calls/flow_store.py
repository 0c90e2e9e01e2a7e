"""The flow-control bucket: the shared state of limits and pauses, each change revision-checked.

One JetStream key-value bucket (default ``faasq-flow``), keyed by scope (see
:mod:`calls.flow`). :meth:`FlowStore.change` applies a pure rule to a key's value and writes
the result only if the key is still at the revision the rule saw, so two workers racing for
the last slot cannot both take it: the loser sees the winner's value and decides again. A
caller that watches the bucket passes the value it last saw and saves the read.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Final, NamedTuple, TypeVar

from nats.js import JetStreamContext
from nats.js.errors import APIError, KeyNotFoundError
from nats.js.kv import KV_DEL, KV_OP, KeyValue

from calls.flow import paused_scope
from calls.streams import open_bucket

__all__ = ["DEFAULT_FLOW_BUCKET", "KEEP", "FlowConflict", "FlowStore", "Keep", "Seen"]

DEFAULT_FLOW_BUCKET = "faasq-flow"
_EXPECTED_LAST = "Nats-Expected-Last-Subject-Sequence"
_WRONG_LAST = (10071, 10164)
_CONFLICT_RETRIES = 50

R = TypeVar("R")


class Keep:
    """A rule's answer that the value stays as it is."""


KEEP: Final = Keep()


class Seen(NamedTuple):
    """A key's value (None: absent or deleted) and the revision of its last write (0: never written)."""

    value: bytes | None
    revision: int


class FlowConflict(RuntimeError):
    """A key kept changing under a change: more concurrent writers than expected."""


class FlowStore:
    """The flow-control bucket.

    Args:
        js: the JetStream context the bucket is written through.
        kv: the bucket (see :meth:`open`).
    """

    def __init__(self, js: JetStreamContext, kv: KeyValue, bucket: str) -> None:
        self._js = js
        self.kv = kv
        self.bucket = bucket
        self._prefix = f"$KV.{bucket}."

    @classmethod
    async def open(cls, js: JetStreamContext, bucket: str = DEFAULT_FLOW_BUCKET, replicas: int = 1) -> FlowStore:
        """Create the bucket (nothing expires; see :func:`~calls.streams.open_bucket`) or bind to it."""
        return cls(js, await open_bucket(js, bucket, None, replicas), bucket)

    async def read(self, key: str) -> Seen:
        """A key's value and revision."""
        try:
            entry = await self.kv.get(key)
        except KeyNotFoundError as exc:  # never written (no entry), or deleted (the delete's entry)
            deleted = getattr(exc, "entry", None)
            return Seen(None, (deleted.revision or 0) if deleted is not None else 0)
        return Seen(entry.value, entry.revision or 0)

    async def write(self, key: str, value: bytes | None, last: int) -> int | None:
        """Write ``value`` (None: delete) if ``key`` is still at revision ``last``.

        Returns:
            The new revision, or None if the key moved on from ``last``.
        """
        headers = {_EXPECTED_LAST: str(last)}
        if value is None:
            headers[KV_OP] = KV_DEL
        try:
            ack = await self._js.publish(self._prefix + key, value or b"", headers=headers)
        except APIError as exc:
            if exc.err_code in _WRONG_LAST:
                return None
            raise
        return ack.seq

    async def change(
        self, key: str, rule: Callable[[bytes | None], tuple[bytes | Keep | None, R]], seen: Seen | None = None
    ) -> tuple[R, Seen]:
        """Apply ``rule`` to ``key``'s value atomically.

        ``rule`` gets the value (None if there is none) and returns the new one (None: delete;
        :data:`KEEP`: leave it) with a result for the caller. When another writer got in
        between, ``rule`` decides again on what that writer left.

        Args:
            key: the scope.
            rule: the change, a pure function.
            seen: the value and revision the caller last saw; read first when None.

        Returns:
            The rule's result, and the key's value and revision now.

        Raises:
            FlowConflict: the key changed under every one of many tries.
        """
        current = seen or await self.read(key)
        for _ in range(_CONFLICT_RETRIES):
            new, result = rule(current.value)
            if isinstance(new, Keep) or new == current.value:
                return result, current
            revision = await self.write(key, new, current.revision)
            if revision is not None:
                return result, Seen(new, revision)
            current = await self.read(key)
        raise FlowConflict(f"flow key {key}: kept changing under {_CONFLICT_RETRIES} tries")

    async def pause(self, function: str, namespace: str) -> None:
        """Pause the async calls of a function: they are kept, and none starts until :meth:`resume`."""
        await self.kv.put(paused_scope(function, namespace), json.dumps({"since": time.time()}).encode())

    async def resume(self, function: str, namespace: str) -> bool:
        """Let a paused function's calls start again; whether it was paused."""
        was = await self.paused(function, namespace)
        if was:
            await self.kv.delete(paused_scope(function, namespace))
        return was

    async def paused(self, function: str, namespace: str) -> bool:
        """Whether a function's async calls are paused."""
        return (await self.read(paused_scope(function, namespace))).value is not None
