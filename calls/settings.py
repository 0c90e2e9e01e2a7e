"""Settings of the async call that the gateway and the queue worker share, read from the same names.

Where calls are kept (the NATS server, the calls' stream, the status and batch buckets,
the dead-letter stream) and where callbacks may go. One setting governs both sides: the
gateway refuses a callback URL at enqueue and the worker checks it again once resolved,
and either may create a stream or bucket, with the same configuration.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings

from calls.batch_store import DEFAULT_BATCH_BUCKET
from calls.bodies import DEFAULT_BODY_BUCKET
from calls.callback_guard import CallbackGuard
from calls.deadletters import DEFAULT_DEAD_LETTER_STREAM
from calls.flow_store import DEFAULT_FLOW_BUCKET
from calls.status_store import DEFAULT_BUCKET, DEFAULT_TTL
from calls.wire import DEFAULT_STREAM
from plumbing.settings import jetstream_name, positive_duration
from provider.types import GoDuration

__all__ = ["CallSettings", "nats_server_urls"]


def nats_server_urls(value: str) -> list[str]:
    """The ``nats://HOST[:PORT]`` URLs of a comma-separated list, each checked (nats-py's default port is 4222).

    Raises:
        ValueError: one is not such a URL, naming it.
    """
    urls = []
    for part in value.split(","):
        url = part.strip()
        if not url:
            continue
        parts = urlsplit(url)
        try:
            port = parts.port or 4222
        except ValueError:
            port = 0
        if parts.scheme not in ("nats", "tls") or not parts.hostname or not port or parts.path not in ("", "/"):
            raise ValueError(f"invalid NATS URL {url!r}: expected nats://HOST[:PORT]")
        urls.append(url)
    return urls


class CallSettings(BaseSettings):
    """The settings of the gateway and the queue worker alike; a base of each one's settings."""

    faas_nats_address: str = Field("127.0.0.1", description="Host of the NATS server.")
    faas_nats_port: int = Field(4222, ge=1, le=65535, description="Port of the NATS server.")
    nats_servers: str = Field(
        "",
        description="Comma-separated URLs (nats://HOST[:PORT]) of the servers of a NATS cluster; when set, they "
        "replace faas_nats_address and faas_nats_port, and connections move to another one when theirs is lost.",
    )
    faas_reconnect_delay: GoDuration = Field(timedelta(seconds=2), description="Wait between NATS reconnect attempts.")
    faas_nats_channel: str = Field(
        DEFAULT_STREAM, description="The JetStream stream of async calls; a queue's subject is '<stream>.<queue>'."
    )
    nats_stream_replicas: int = Field(
        1, ge=1, le=5, description="Copies of the calls' stream kept by a NATS cluster (3: it survives losing a node)."
    )
    status_bucket: str = Field(DEFAULT_BUCKET, description="The JetStream key-value bucket of call status records.")
    status_ttl: GoDuration = Field(
        DEFAULT_TTL, description="How long a call's status record lives after its last change."
    )

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

    message_schedules: bool = Field(
        True,
        description="Delayed calls (X-Delay, X-Not-Before) wait as JetStream message schedules on the calls' "
        "stream. false: they are refused (400), and the stream may be made to refuse calls when full (discard "
        "new), which JetStream does not allow with schedules; a stream that had them cannot drop them.",
    )
    metrics: bool = Field(
        True, description="Count calls for Prometheus (GET /metrics); false: nothing is counted and /metrics is 404."
    )

    flow_bucket: str = Field(
        DEFAULT_FLOW_BUCKET, description="The JetStream key-value bucket of flow control: limits' state and pauses."
    )
    batch_bucket: str = Field(DEFAULT_BATCH_BUCKET, description="The JetStream key-value bucket of batch records.")
    body_bucket: str = Field(
        DEFAULT_BODY_BUCKET,
        description="The JetStream object store of async bodies too large for one NATS message; a call's body "
        "is deleted once the call finished, kept with its dead letter, and expires after the longer of status_ttl "
        "and dead_letter_max_age.",
    )
    batch_ttl: GoDuration = Field(timedelta(days=1), description="How long a batch record lives after its last change.")

    @field_validator("nats_servers")
    @classmethod
    def _servers(cls, value: str) -> str:
        return ",".join(nats_server_urls(value))

    @field_validator("callback_allowed_hosts")
    @classmethod
    def _allow_list(cls, value: str) -> str:
        CallbackGuard(value)  # raises ValueError naming the bad entry
        return value

    @field_validator(
        "faas_nats_channel", "status_bucket", "dead_letter_stream", "batch_bucket", "flow_bucket", "body_bucket"
    )
    @classmethod
    def _stored_name(cls, value: str, info: ValidationInfo) -> str:
        return jetstream_name(value, "bucket" if (info.field_name or "").endswith("_bucket") else "stream")

    @field_validator("faas_reconnect_delay", "status_ttl", "dead_letter_max_age", "batch_ttl")
    @classmethod
    def _positive_duration(cls, value: timedelta) -> timedelta:
        return positive_duration(value)

    @property
    def nats_urls(self) -> list[str]:
        """The NATS servers' URLs, as the client takes them."""
        if self.nats_servers:
            return self.nats_servers.split(",")
        return [f"nats://{self.faas_nats_address}:{self.faas_nats_port}"]

    @property
    def nats_url(self) -> str:
        """The NATS servers' URLs, comma-separated: how messages name them."""
        return ",".join(self.nats_urls)

    @property
    def body_max_age(self) -> timedelta:
        """How long a body in the body bucket may outlive its call: as long as its status record or its dead letter."""
        return max(self.status_ttl, self.dead_letter_max_age)

    @property
    def callback_guard(self) -> CallbackGuard:
        """What callbacks may reach."""
        return CallbackGuard(self.callback_allowed_hosts, deny_link_local=self.callback_deny_link_local)
