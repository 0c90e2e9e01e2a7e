"""Log lines of a function's replicas: a bounded ring buffer per function, read with since/tail/follow."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncGenerator, Iterable
from datetime import UTC, datetime

from provider.local.notify import Broadcast
from provider.types import LogMessage, LogRequest

__all__ = ["FunctionLog", "select_logs"]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _matches(message: LogMessage, request: LogRequest) -> bool:
    if request.instance and message.instance != request.instance:
        return False
    return request.since is None or message.timestamp >= _aware(request.since)


def select_logs(messages: Iterable[LogMessage], request: LogRequest) -> list[LogMessage]:
    """The stored lines a request asks for: its instance, from ``since`` on, the last ``tail`` (≤0: all)."""
    chosen = [m for m in messages if _matches(m, request)]
    return chosen[-request.tail :] if request.tail > 0 else chosen


class FunctionLog:
    """The last ``capacity`` lines of one function; followers are woken on every new line."""

    def __init__(self, name: str, namespace: str, capacity: int) -> None:
        self.name = name
        self.namespace = namespace
        self._lines: deque[tuple[int, LogMessage]] = deque(maxlen=capacity)
        self._seq = 0
        self._closed = False
        self._signal = Broadcast()

    def append(self, instance: str, text: str, timestamp: datetime | None = None) -> None:
        """Store one line of a replica's output."""
        moment = timestamp or datetime.now(UTC)
        self._seq += 1
        # Every output line passes here: the fields are known good, so skip validation.
        message = LogMessage.model_construct(
            name=self.name, namespace=self.namespace, instance=instance, timestamp=moment, text=text
        )
        self._lines.append((self._seq, message))
        self._signal.notify()

    def close(self) -> None:
        """End every follower (the function is gone or the provider is stopping)."""
        self._closed = True
        self._signal.notify()

    async def read(self, request: LogRequest) -> AsyncGenerator[LogMessage, None]:
        """Lines the request selects; with ``follow``, then new ones until closed or the consumer stops."""
        seen = self._seq
        for message in select_logs((m for _, m in self._lines), request):
            yield message
        while request.follow and not self._closed:
            while self._seq <= seen and not self._closed:
                await self._signal.wait()
            fresh = [(seq, m) for seq, m in self._lines if seq > seen]
            seen = self._seq
            for _, message in fresh:
                if _matches(message, request):
                    yield message
