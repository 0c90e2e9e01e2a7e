"""Settings of the Redis connector: where Redis is, what to consume, and how stream entries are retried."""

from __future__ import annotations

import os
import socket
from datetime import timedelta
from typing import Annotated, Self
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, field_validator, model_validator
from pydantic_settings import NoDecode

from connectors.sdk.config import ConnectorSettings
from plumbing.settings import positive_duration
from provider.types import GoDuration

__all__ = ["RedisSettings", "parse_names", "parse_topic_map"]


def parse_names(value: object) -> tuple[str, ...]:
    """``"a, b,,c"`` → ``("a", "b", "c")``: trimmed, empty ones dropped, in order, once each."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list | tuple):
        raise ValueError("expected comma-separated names")
    return tuple(dict.fromkeys(str(name).strip() for name in value if str(name).strip()))


def parse_topic_map(value: object) -> dict[str, str]:
    """``"orders=new-orders, alerts.*=alerts"`` → ``{"orders": "new-orders", "alerts.*": "alerts"}``."""
    if isinstance(value, dict):
        return {str(key): str(topic) for key, topic in value.items()}
    if not isinstance(value, str):
        raise ValueError("expected source=topic pairs separated by commas")
    pairs = [pair.partition("=") for pair in value.split(",") if pair.strip()]
    if any(not sep or not source.strip() or not topic.strip() for source, sep, topic in pairs):
        raise ValueError(f"expected source=topic pairs separated by commas, got {value!r}")
    return {source.strip(): topic.strip() for source, _, topic in pairs}


# "a,b", not JSON: NoDecode keeps pydantic-settings from decoding the variable first.
Names = Annotated[tuple[str, ...], NoDecode, BeforeValidator(parse_names)]
TopicMap = Annotated[dict[str, str], NoDecode, BeforeValidator(parse_topic_map)]


def _consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class RedisSettings(ConnectorSettings):
    """The Redis connector's environment."""

    redis_url: str = Field(
        "redis://127.0.0.1:6379/0", description="redis://[user:password@]host:port/db, rediss://… or unix:///path."
    )
    redis_channels: Names = Field((), description="Pub/Sub channels to subscribe to (comma-separated).")
    redis_patterns: Names = Field((), description="Pub/Sub channel patterns to subscribe to (PSUBSCRIBE).")
    redis_streams: Names = Field((), description="Streams to consume with the consumer group.")
    redis_topic_map: TopicMap = Field(
        default_factory=dict,
        description="source=topic pairs: a channel, pattern or stream → the topic invoked; unlisted: its own name.",
    )
    redis_group: str = Field("faasq", min_length=1, description="The streams' consumer group.")
    redis_group_start: str = Field(
        "$", description="Where a new group starts: $ (entries added from now on) or 0 (the whole stream)."
    )
    redis_consumer: str = Field(
        default_factory=_consumer_name, min_length=1, description="This consumer's name in the group."
    )
    redis_block: GoDuration = Field(timedelta(seconds=2), description="Longest wait of one XREADGROUP.")
    redis_count: int = Field(16, ge=1, description="Entries read (and claimed) at once per stream.")
    redis_claim_idle: GoDuration = Field(
        timedelta(seconds=30),
        description="An entry pending this long (not accepted by all, or its consumer died) is claimed and retried.",
    )
    redis_max_deliveries: int = Field(
        10, ge=1, description="Deliveries of an entry before it goes to the dead-letter stream."
    )
    redis_dead_letter_stream: str = Field(
        "{stream}:dead", min_length=1, description="Where entries go after redis_max_deliveries; {stream}: its stream."
    )
    redis_body_field: str = Field(
        "body", min_length=1, description="The entry field sent as the body; without it, the entry as a JSON object."
    )
    redis_content_type_field: str = Field(
        "content_type", min_length=1, description="The entry field holding the body's Content-Type."
    )
    redis_delivery_ttl: GoDuration = Field(
        timedelta(days=1), description="How long the record of which functions accepted an entry is kept."
    )
    redis_reconnect_max: GoDuration = Field(
        timedelta(seconds=10), description="Longest wait between two attempts to reach Redis."
    )

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("redis", "rediss", "unix") or not (parts.hostname or parts.path):
            raise ValueError(f"expected a redis://, rediss:// or unix:// URL, got {value!r}")
        return value

    @field_validator("redis_block", "redis_claim_idle", "redis_delivery_ttl", "redis_reconnect_max")
    @classmethod
    def _positive_duration(cls, value: timedelta) -> timedelta:
        return positive_duration(value)

    @model_validator(mode="after")
    def _something_to_consume(self) -> Self:
        if not (self.redis_channels or self.redis_patterns or self.redis_streams):
            raise ValueError("nothing to consume: set redis_channels, redis_patterns or redis_streams")
        if any(self.dead_letter_stream(stream) in self.redis_streams for stream in self.redis_streams):
            raise ValueError("redis_dead_letter_stream must not name a consumed stream")
        return self

    def dead_letter_stream(self, stream: str) -> str:
        """The dead-letter stream of ``stream``."""
        return self.redis_dead_letter_stream.replace("{stream}", stream)

    def topic_of(self, source: str) -> str:
        """The topic of a channel, pattern or stream."""
        return self.redis_topic_map.get(source, source)
