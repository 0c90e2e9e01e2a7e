"""Settings of the webhook connector, and its topics file.

The environment names the file (``webhook_config``); the file lists the topics that
``POST /webhook/<topic>`` accepts, each with how its requests are signed and where its
secret is. docs/connectors.md documents the file's format.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from connectors.sdk.config import ConnectorSettings
from connectors.webhook.signatures import ALGORITHMS, Encoding, Scheme, Verifier
from plumbing.settings import describe_validation_error
from provider.types import GoDuration

__all__ = ["Route", "TopicConfig", "WebhookConfigError", "WebhookSettings", "load_routes"]

_TOPIC = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")


class WebhookConfigError(ValueError):
    """The topics file cannot be read or is invalid; the message names the file and the problem."""


class WebhookSettings(ConnectorSettings):
    """The webhook connector's environment."""

    webhook_config: Path | None = Field(None, description="The topics file (YAML); without it, no topic is served.")
    bind_address: str = Field("127.0.0.1", description="Address the connector listens on.")
    port: int = Field(8085, ge=0, le=65535, description="Port the connector listens on.")
    listen_fd: int | None = Field(
        None, ge=0, description="An inherited, listening TCP socket to serve on instead of bind_address:port."
    )
    max_body_bytes: int = Field(1024 * 1024, ge=1, description="Largest webhook body; larger ones get 413.")


class TopicConfig(BaseModel):
    """One entry of ``topics:``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    signature: Scheme
    secret: str | None = Field(None, description="A file name under secret_mount_path.")
    secret_file: Path | None = Field(None, description="A file path, relative to the topics file.")
    header: str | None = None
    algorithm: str = "sha256"
    encoding: Encoding = Encoding.HEX
    prefix: str = ""
    tolerance: GoDuration = timedelta(minutes=5)
    event_id_header: str | None = None

    @field_validator("algorithm")
    @classmethod
    def _algorithm(cls, value: str) -> str:
        if value.lower() not in ALGORITHMS:
            raise ValueError(f"use one of {', '.join(sorted(ALGORITHMS))}")
        return value.lower()

    @model_validator(mode="after")
    def _complete(self) -> Self:
        signed = self.signature is not Scheme.NONE
        if signed and (self.secret is None) == (self.secret_file is None):
            raise ValueError(f"signature {self.signature.value} needs one of secret or secret_file")
        if self.signature in (Scheme.HMAC, Scheme.FAAS_CLI) and not self.header:
            raise ValueError(f"signature {self.signature.value} needs a header")
        return self


class _TopicsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    topics: dict[str, TopicConfig] = Field(default_factory=dict)

    @field_validator("topics")
    @classmethod
    def _names(cls, topics: dict[str, TopicConfig]) -> dict[str, TopicConfig]:
        for name in topics:
            if not _TOPIC.match(name):
                raise ValueError(f"invalid topic {name!r}: use letters, digits, '.', '_' and '-'")
        return topics


class Route:
    """A topic that ``POST /webhook/<topic>`` accepts: its verifier and the header naming a delivery."""

    def __init__(self, topic: str, verifier: Verifier, event_id_header: str) -> None:
        self.topic = topic
        self.verifier = verifier
        self.event_id_header = event_id_header.lower()


def _secret(name: str, topic: TopicConfig, secrets: Path, base: Path) -> bytes:
    path = secrets / topic.secret if topic.secret is not None else base / (topic.secret_file or "")
    try:
        value = path.read_bytes().rstrip(b"\r\n")
    except OSError as exc:
        raise WebhookConfigError(f"topic {name}: cannot read its secret {path}: {exc.strerror}") from None
    if not value:
        raise WebhookConfigError(f"topic {name}: its secret {path} is empty")
    return value


def _route(name: str, topic: TopicConfig, secrets: Path, base: Path) -> Route:
    secret = b"" if topic.signature is Scheme.NONE else _secret(name, topic, secrets, base)
    header = topic.header or ("X-Hub-Signature-256" if topic.signature is Scheme.GITHUB else "")
    prefix = "sha256=" if topic.signature is Scheme.FAAS_CLI else topic.prefix
    verifier = Verifier(
        topic.signature, secret, header, topic.algorithm, topic.encoding, prefix, topic.tolerance.total_seconds()
    )
    default_id = "X-GitHub-Delivery" if topic.signature is Scheme.GITHUB else "Idempotency-Key"
    return Route(name, verifier, topic.event_id_header or default_id)


def load_routes(path: Path | None, secret_mount_path: Path) -> dict[str, Route]:
    """The topics of the file at ``path`` (none without a file), with their secrets read.

    Raises:
        WebhookConfigError: the file or a secret cannot be read, or the file is invalid.
    """
    if path is None:
        return {}
    try:
        document = yaml.safe_load(path.read_text()) or {}
        topics = _TopicsFile.model_validate(document).topics
    except OSError as exc:
        raise WebhookConfigError(f"cannot read the webhook config {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise WebhookConfigError(f"the webhook config {path} is not YAML: {exc}") from None
    except ValidationError as exc:
        raise WebhookConfigError(f"invalid webhook config {path}: {describe_validation_error(exc)}") from None
    return {name: _route(name, topic, secret_mount_path, path.parent) for name, topic in topics.items()}
