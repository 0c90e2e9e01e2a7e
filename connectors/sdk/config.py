"""Settings every connector shares, read once from the environment; names are OpenFaaS's connector ones."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from plumbing.settings import base_url, positive_duration
from provider.types import GoDuration

__all__ = ["ConnectorSettings"]


class ConnectorSettings(BaseSettings):
    """The environment of a connector; a connector with settings of its own subclasses it."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    gateway_url: str = Field("http://127.0.0.1:8080", description="The gateway the connector invokes functions on.")
    topic_delimiter: str = Field(",", min_length=1, description="Separates the topics of a function's 'topic'.")
    rebuild_interval: GoDuration = Field(
        timedelta(seconds=5), description="How often the topic map is rebuilt from GET /system/functions."
    )
    rebuild_timeout: GoDuration = Field(timedelta(seconds=5), description="Longest wait for one rebuild.")
    asynchronous_invocation: bool = Field(
        False, description="Invoke through /async-function/ (accepted: 202) instead of /function/ (accepted: 2xx)."
    )
    callback_url: str | None = Field(None, description="X-Callback-Url of async invocations, if any.")
    content_type: str | None = Field(
        None, description="Content-Type of every invocation; unset: the event's own, if it has one."
    )
    upstream_timeout: GoDuration = Field(timedelta(seconds=60), description="Longest time one invocation may take.")
    max_inflight: int = Field(32, ge=1, description="Invocations this connector has in flight at once.")
    print_response: bool = Field(True, description="Log each function's status and duration.")
    print_response_body: bool = Field(False, description="Log each function's response body too.")
    basic_auth: bool = Field(False, description="Send the gateway's credentials to /system/functions.")
    secret_mount_path: Path = Field(
        Path("/run/secrets/"), description="Folder holding basic-auth-user, basic-auth-password and other secrets."
    )

    @field_validator("gateway_url", "callback_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return None if value is None else base_url(value)

    @field_validator("rebuild_interval", "rebuild_timeout", "upstream_timeout")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        return positive_duration(value)
