"""Settings of the queue worker, read once from the environment; names are OpenFaaS's where it has one."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from provider.queue import DEFAULT_QUEUE, DEFAULT_STREAM, queue_subject
from provider.types import GoDuration

__all__ = ["WorkerSettings"]

# A JetStream stream name, as the gateway accepts it.
_STREAM_NAME = re.compile(r"\A[A-Za-z0-9_-]{1,32}\Z")


class WorkerSettings(BaseSettings):
    """The queue worker's environment."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    faas_nats_address: str = Field("127.0.0.1", description="Host of the NATS server.")
    faas_nats_port: int = Field(4222, ge=1, le=65535, description="Port of the NATS server.")
    faas_nats_channel: str = Field(DEFAULT_STREAM, description="The JetStream stream of async calls.")
    faas_nats_queue_group: str = Field(
        "faas", description="Prefix of the durable consumer '<group>-<queue>' that all workers of a queue share."
    )
    queue: str = Field(DEFAULT_QUEUE, description="The queue served: subject '<stream>.<queue>'.")
    faas_gateway_address: str = Field("127.0.0.1", description="Host of the gateway (gateway_invoke=true).")
    faas_gateway_port: int = Field(8080, ge=1, le=65535, description="Port of the gateway.")
    gateway_invoke: bool = Field(True, description="Invoke through the gateway; false: the provider directly.")
    functions_provider_url: str | None = Field(
        None, description="The provider's base URL, e.g. http://127.0.0.1:8081/ (needed when gateway_invoke=false)."
    )
    ack_wait: GoDuration = Field(
        timedelta(seconds=30), description="JetStream's lease on a call; running calls renew it every third of it."
    )
    max_inflight: int = Field(64, ge=1, description="Calls this process runs at once.")
    fetch_batch: int = Field(64, ge=1, description="Most calls pulled from JetStream in one request.")
    max_ack_pending: int = Field(
        20_000, ge=1, description="Most unacknowledged calls of the consumer, across every worker process."
    )
    faas_max_reconnect: int = Field(120, ge=-1, description="NATS reconnect attempts before giving up (-1: forever).")
    faas_reconnect_delay: GoDuration = Field(timedelta(seconds=2), description="Wait between NATS reconnect attempts.")
    upstream_timeout: GoDuration = Field(timedelta(minutes=5), description="Longest time one function call may take.")
    callback_timeout: GoDuration = Field(timedelta(seconds=10), description="Longest time one callback POST may take.")
    callback_attempts: int = Field(4, ge=1, description="Most POSTs of one callback (connection errors and 5xx).")
    shutdown_grace: GoDuration = Field(
        timedelta(seconds=25), description="On SIGTERM, how long in-flight calls may finish before they are cancelled."
    )
    write_debug: bool = Field(False, description="Log every call at debug level.")
    basic_auth: bool = Field(False, description="Send the gateway's basic auth credentials with each invocation.")
    secret_mount_path: Path = Field(
        Path("/run/secrets/"), description="Folder holding the files basic-auth-user and basic-auth-password."
    )

    @field_validator("faas_nats_channel")
    @classmethod
    def _stream_name(cls, value: str) -> str:
        if not _STREAM_NAME.match(value):
            raise ValueError(f"invalid stream name {value!r}: use 1-32 letters, digits, '_' or '-'")
        return value

    @field_validator("queue")
    @classmethod
    def _queue_name(cls, value: str) -> str:
        queue_subject("s", value)  # raises ValueError with the rule
        return value

    @field_validator("faas_nats_queue_group")
    @classmethod
    def _group_name(cls, value: str) -> str:
        if not _STREAM_NAME.match(value):
            raise ValueError(f"invalid queue group {value!r}: use 1-32 letters, digits, '_' or '-'")
        return value

    @field_validator("functions_provider_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected an http(s) URL such as http://127.0.0.1:8081/, got {value!r}")
        return value.rstrip("/")

    @field_validator("ack_wait", "faas_reconnect_delay", "upstream_timeout", "callback_timeout")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be positive")
        return value

    @field_validator("shutdown_grace")
    @classmethod
    def _not_negative(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise ValueError("must not be negative")
        return value

    @model_validator(mode="after")
    def _provider_when_direct(self) -> WorkerSettings:
        if not self.gateway_invoke and self.functions_provider_url is None:
            raise ValueError("gateway_invoke=false needs functions_provider_url")
        return self

    @property
    def nats_url(self) -> str:
        """The NATS client URL."""
        return f"nats://{self.faas_nats_address}:{self.faas_nats_port}"

    @property
    def subject(self) -> str:
        """The subject of this worker's queue."""
        return queue_subject(self.faas_nats_channel, self.queue)

    @property
    def durable(self) -> str:
        """The durable consumer every worker of this queue shares."""
        return f"{self.faas_nats_queue_group}-{self.queue}"

    @property
    def invoke_base_url(self) -> str:
        """Where ``/function/<name>`` is served: the gateway, or the provider."""
        if self.gateway_invoke:
            return f"http://{self.faas_gateway_address}:{self.faas_gateway_port}"
        return self.functions_provider_url or ""  # set: _provider_when_direct checked it
