"""Pure handling of pod logs read with ``timestamps=true``: parse, merge across pods, keep the tail."""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from datetime import datetime

from provider.types import LogMessage

__all__ = ["merge", "parse_pod_log"]


def parse_pod_log(text: str, name: str, namespace: str, pod: str) -> list[LogMessage]:
    """Lines of one pod's log, each prefixed by the kubelet with an RFC 3339 timestamp and a space."""
    messages = []
    for line in text.splitlines():
        stamp, _, rest = line.partition(" ")
        try:
            moment = datetime.fromisoformat(stamp)
        except ValueError:
            continue  # a line the kubelet did not stamp (a truncated read): not a message
        messages.append(LogMessage(name=name, namespace=namespace, instance=pod, timestamp=moment, text=rest))
    return messages


def merge(per_pod: Iterable[list[LogMessage]], tail: int) -> list[LogMessage]:
    """All pods' lines oldest first; with ``tail`` > 0, only the last ``tail`` of them."""
    merged = list(heapq.merge(*per_pod, key=lambda message: message.timestamp))
    return merged[-tail:] if tail > 0 else merged
