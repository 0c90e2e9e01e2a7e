"""Settings the gateway and the queue worker share: where callbacks may go, and the dead-letter stream.

Both read the same environment names, so one setting governs both sides: the gateway
refuses a callback URL at enqueue, the worker checks it again once resolved, and either
may create the dead-letter stream, with the same limits.
"""

from __future__ import annotations

import re
from datetime import timedelta

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings

from provider.batches import DEFAULT_BATCH_BUCKET
from provider.callbackguard import CallbackGuard
from provider.deadletters import DEFAULT_DEAD_LETTER_STREAM
from provider.types import GoDuration

__all__ = ["DeliverySettings"]

_STREAM_NAME = re.compile(r"\A[A-Za-z0-9_-]{1,32}\Z")


class DeliverySettings(BaseSettings):
    """The callback guard's and the dead-letter stream's settings; a base of each component's settings."""

    callback_allowed_hosts: str = Field(
        "", description="Comma-separated hosts, .domains, addresses and CIDRs callbacks may reach; empty: any."
    )
    callback_deny_link_local: bool = Field(
        True, description="Refuse callbacks to link-local and cloud-metadata addresses and names not allowed above."
    )
    dead_letter_stream: str = Field(DEFAULT_DEAD_LETTER_STREAM, description="The JetStream stream of dead letters.")
    dead_letter_max_age: GoDuration = Field(timedelta(days=14), description="How long a dead letter is kept.")
    dead_letter_max_bytes: int = Field(
        1024**3, ge=-1, description="Most bytes of dead letters kept, the oldest dropped first (-1: no limit)."
    )

    batch_bucket: str = Field(DEFAULT_BATCH_BUCKET, description="The JetStream key-value bucket of batch records.")
    batch_ttl: GoDuration = Field(timedelta(days=1), description="How long a batch record lives after its last change.")

    @field_validator("callback_allowed_hosts")
    @classmethod
    def _allow_list(cls, value: str) -> str:
        CallbackGuard(value)  # raises ValueError naming the bad entry
        return value

    @field_validator("dead_letter_stream", "batch_bucket")
    @classmethod
    def _dead_letter_stream(cls, value: str) -> str:
        if not _STREAM_NAME.match(value):
            raise ValueError(f"invalid stream name {value!r}: use 1-32 letters, digits, '_' or '-'")
        return value

    @field_validator("dead_letter_max_age", "batch_ttl")
    @classmethod
    def _kept(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be positive")
        return value

    @property
    def callback_guard(self) -> CallbackGuard:
        """What callbacks may reach."""
        return CallbackGuard(self.callback_allowed_hosts, deny_link_local=self.callback_deny_link_local)
