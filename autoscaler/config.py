"""Settings of the autoscaler, read once from the environment."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from plumbing.settings import base_url, positive_duration
from provider.types import GoDuration

__all__ = ["AutoscalerSettings"]


class AutoscalerSettings(BaseSettings):
    """The environment of ``faasq-autoscaler``."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    gateway_url: str = Field(
        "http://127.0.0.1:8080", description="The gateway: its /metrics is read, its system API scales."
    )
    prometheus_url: str | None = Field(
        None,
        description="Read the load from this Prometheus (its /federate, every pod's series) instead of the "
        "gateway's /metrics: on Kubernetes each gateway and worker pod counts only its own.",
    )
    basic_auth: bool = Field(False, description="Send the gateway's credentials to /system/*.")
    secret_mount_path: Path = Field(
        Path("/run/secrets/"), description="Folder holding basic-auth-user and basic-auth-password."
    )
    scale_interval: GoDuration = Field(timedelta(seconds=2), description="How often load is read and decided on.")
    rate_window: GoDuration = Field(
        timedelta(seconds=10), description="Invocations per second are counted over this long (OpenFaaS's rule: 10s)."
    )
    scale_down_window: GoDuration = Field(
        timedelta(seconds=30),
        description="Typed modes remove replicas only after the load has been lower for this long.",
    )
    alert_repeat: GoDuration = Field(
        timedelta(seconds=30),
        description="Without a scale type: while the invocation-rate rule holds, it fires again this often.",
    )
    zero_duration: GoDuration = Field(
        timedelta(minutes=1),
        description="Idle time before a function labelled com.openfaas.scale.zero goes to 0, unless its "
        "com.openfaas.scale.zero-duration says.",
    )
    request_timeout: GoDuration = Field(timedelta(seconds=10), description="Longest wait for one gateway request.")

    @field_validator("gateway_url", "prometheus_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return None if value is None else base_url(value)

    @field_validator("scale_interval", "rate_window", "scale_down_window", "alert_repeat", "zero_duration")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        return positive_duration(value)
