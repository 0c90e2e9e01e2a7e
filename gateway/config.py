"""Settings of the gateway, read once from the environment; names are the OpenFaaS gateway's where it has one."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from calls.settings import CallSettings
from plumbing.settings import base_url, positive_duration
from provider.types import DEFAULT_NAMESPACE, GoDuration

__all__ = ["GatewaySettings"]

_DNS_SUFFIX = re.compile(
    r"\A[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\Z"
)


class GatewaySettings(CallSettings):
    """The gateway's environment."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    functions_provider_url: str = Field(description="The provider's base URL, e.g. http://127.0.0.1:8081/.")
    function_namespace: str = Field(DEFAULT_NAMESPACE, description="Namespace of a function name without '.ns'.")
    nats_connect_timeout: GoDuration = Field(
        timedelta(seconds=30), description="How long start-up waits for NATS before giving up."
    )
    nats_duplicate_window: GoDuration = Field(
        timedelta(minutes=2), description="A call resent with the same X-Call-Id within this window is stored once."
    )
    bind_address: str = Field("127.0.0.1", description="Address the gateway listens on.")
    port: int = Field(8080, ge=0, le=65535, description="Port the gateway listens on.")
    listen_fd: int | None = Field(
        None, ge=0, description="An inherited, listening TCP socket to serve on instead of bind_address:port."
    )
    ready_file: Path | None = Field(
        None,
        description="A file the gateway writes its process id to once it serves, and removes when it stops: "
        "how a supervisor that runs several gateway processes on one port tells that each is ready.",
    )
    read_timeout: GoDuration = Field(timedelta(seconds=60), description="Longest time to receive an async body.")
    write_timeout: GoDuration = Field(
        timedelta(seconds=60), description="Longest time a proxied response may take (with upstream_timeout)."
    )
    upstream_timeout: GoDuration = Field(timedelta(seconds=60), description="Longest time a sync invocation may take.")
    direct_functions: bool = Field(
        False,
        description="Invoke /function/<name> straight at http://<name>.<namespace>[.<direct_functions_suffix>]"
        ":<direct_functions_port> (on Kubernetes: the function's Service) instead of through the provider.",
    )
    direct_functions_suffix: str = Field("", description="DNS suffix for direct_functions, e.g. svc.cluster.local.")
    direct_functions_port: int = Field(8080, ge=1, le=65535, description="Port of a function for direct_functions.")
    basic_auth: bool = Field(False, description="Require basic auth on /system/* and faasq's admin routes.")
    secret_mount_path: Path = Field(
        Path("/run/secrets/"), description="Folder holding the files basic-auth-user and basic-auth-password."
    )
    max_body_bytes: int = Field(
        64 * 1024 * 1024,
        ge=1,
        description="Largest async body (or batch item); one too large for a NATS message goes to body_bucket.",
    )
    function_cache_ttl: GoDuration = Field(
        timedelta(seconds=5), description="How long a function looked up for /async-function/ is remembered."
    )
    max_batch_items: int = Field(100_000, ge=1, description="The most items one batch (POST /async-batches/) may have.")
    batch_publish_window: int = Field(
        256, ge=1, description="Items of one batch published at once, their acknowledgements awaited together."
    )
    batch_enqueue_rate: float = Field(
        0,
        ge=0,
        description="Most items per second one batch is queued at, leaving room for other callers (0: no limit).",
    )
    enqueue_timeout: GoDuration = Field(
        timedelta(seconds=5),
        description="Longest wait for JetStream to acknowledge an async call (then 503), and for a function lookup.",
    )

    @field_validator("functions_provider_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return base_url(value, "http://127.0.0.1:8081/")

    @field_validator("direct_functions_suffix")
    @classmethod
    def _dns_suffix(cls, value: str) -> str:
        suffix = value.strip(".")
        if suffix and not _DNS_SUFFIX.match(suffix):
            raise ValueError(f"invalid DNS suffix {value!r}: use dot-separated labels of letters, digits and '-'")
        return suffix

    @field_validator(
        "read_timeout",
        "write_timeout",
        "upstream_timeout",
        "enqueue_timeout",
        "function_cache_ttl",
    )
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        return positive_duration(value)
