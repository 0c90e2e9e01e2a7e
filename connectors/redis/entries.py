"""Stream entries and Pub/Sub messages as SDK events, and the dead-letter copy of an entry.

A stream entry's body is its ``redis_body_field`` (default ``body``) byte for byte, with the
Content-Type of its ``redis_content_type_field`` (default ``content_type``), if any; an entry
without a body field is sent whole, as a JSON object of its fields (``application/json``). Its
event id is ``<stream>/<entry id>``: the same on every redelivery, distinct across streams.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from connectors.redis.config import RedisSettings
from connectors.sdk.events import Event

__all__ = ["DEAD_LETTER_FIELDS", "Entry", "channel_event", "dead_letter_fields", "event_id", "stream_event"]

DEAD_LETTER_FIELDS = ("faasq:stream", "faasq:id", "faasq:deliveries", "faasq:reason")
"""Added to an entry's own fields in its dead-letter copy."""


@dataclass(frozen=True)
class Entry:
    """A stream entry as this consumer got it.

    Attributes:
        stream: the stream's name.
        id: the entry id (``1700000000000-0``).
        fields: its fields, as Redis stores them.
        deliveries: how often the group delivered it, this time included (XPENDING's counter).
    """

    stream: str
    id: str
    fields: Mapping[bytes, bytes]
    deliveries: int = 1


def event_id(stream: str, entry_id: str) -> str:
    """The event id of a stream entry."""
    return f"{stream}/{entry_id}"


def _text(value: bytes) -> str:
    return value.decode(errors="replace")


def stream_event(entry: Entry, settings: RedisSettings) -> Event:
    """The event of a stream entry, on the topic of its stream."""
    fields = entry.fields
    body = fields.get(settings.redis_body_field.encode())
    content_type = fields.get(settings.redis_content_type_field.encode())
    if body is None:
        body = json.dumps({_text(key): _text(value) for key, value in fields.items()}).encode()
        content_type = content_type or b"application/json"
    headers = (
        ("X-Redis-Stream", entry.stream),
        ("X-Redis-Id", entry.id),
        ("X-Redis-Deliveries", str(entry.deliveries)),
    )
    return Event(
        settings.topic_of(entry.stream),
        body,
        event_id(entry.stream, entry.id),
        content_type=_text(content_type) if content_type else None,
        headers=headers,
    )


def channel_event(channel: str, pattern: str | None, data: bytes, settings: RedisSettings) -> Event:
    """The event of a Pub/Sub message: the topic mapped from its channel, else from its pattern, else the channel."""
    topic = settings.redis_topic_map.get(channel) or (pattern and settings.redis_topic_map.get(pattern)) or channel
    headers = [("X-Redis-Channel", channel)] + ([("X-Redis-Pattern", pattern)] if pattern else [])
    return Event(topic, data, headers=tuple(headers))


def dead_letter_fields(entry: Entry, reason: str) -> dict[bytes, bytes]:
    """The entry's fields, then where it came from, how often it was delivered, and why it was given up."""
    extra = (entry.stream, entry.id, str(entry.deliveries), reason)
    own = {key: value for key, value in entry.fields.items() if _text(key) not in DEAD_LETTER_FIELDS}
    return own | {name.encode(): value.encode() for name, value in zip(DEAD_LETTER_FIELDS, extra, strict=True)}
