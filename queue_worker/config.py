"""Settings of the queue worker, read once from the environment; names are OpenFaaS's where it has one."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from calls.retry_decision import RetryPolicy
from calls.retry_settings import MAX_ATTEMPTS, RETRY_HTTP_CODES, RETRY_SETTINGS, parse_codes
from calls.settings import CallSettings
from calls.wire import DEFAULT_QUEUE, queue_subject
from plumbing.settings import base_url, jetstream_name, positive_duration
from provider.types import GoDuration

__all__ = ["WorkerSettings"]


def _codes(value: object) -> object:
    return parse_codes(value) if isinstance(value, str) else value


# "408,429,500", not JSON: NoDecode keeps pydantic-settings from decoding the variable first.
StatusCodes = Annotated[frozenset[int], NoDecode, BeforeValidator(_codes)]


class WorkerSettings(CallSettings):
    """The queue worker's environment."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

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
    max_waiting: int = Field(
        256,
        ge=0,
        description="Calls held back by their limits that this process keeps waiting without a slot; more are "
        "stored again on the queue, due a little later.",
    )
    fetch_batch: int = Field(64, ge=1, description="Most calls pulled from JetStream in one request.")
    max_ack_pending: int = Field(
        20_000, ge=1, description="Most unacknowledged calls of the consumer, across every worker process."
    )
    faas_max_reconnect: int = Field(120, ge=-1, description="NATS reconnect attempts before giving up (-1: forever).")
    upstream_timeout: GoDuration = Field(timedelta(minutes=5), description="Longest time one function call may take.")
    callback_timeout: GoDuration = Field(timedelta(seconds=10), description="Longest time one callback POST may take.")
    max_retry_attempts: int = Field(
        3,
        ge=1,
        le=MAX_ATTEMPTS,
        description="Runs of one call at most, the first included; a call still failing then is dead-lettered. "
        "Annotation com.openfaas.retry.attempts and header X-Retry-Attempts override it.",
    )
    retry_http_codes: StatusCodes = Field(
        RETRY_HTTP_CODES,
        description="Comma-separated function statuses that are retried, like connection errors and timeouts "
        "('none': only those). Annotation com.openfaas.retry.codes and header X-Retry-Codes override it.",
    )
    initial_retry_wait: GoDuration = Field(
        timedelta(seconds=1),
        description="Wait before the first retry and the floor of every wait; the ceiling doubles with each run "
        "(full jitter). Annotation com.openfaas.retry.min_wait and header X-Retry-Min-Wait override it.",
    )
    max_retry_wait: GoDuration = Field(
        timedelta(seconds=30),
        description="The longest wait between two runs, also the cap of a function's Retry-After. "
        "Annotation com.openfaas.retry.max_wait and header X-Retry-Max-Wait override it.",
    )
    max_event_age: GoDuration = Field(
        timedelta(0),
        description="A call older than this since its enqueue is dead-lettered rather than run (0: no limit). "
        "Annotation com.faasq.max_event_age and header X-Max-Event-Age override it.",
    )
    retry_budget: float = Field(
        0.2,
        ge=0,
        description="Retries of a function may be at most this share of its first attempts over "
        "retry_budget_window, on each worker (0: no budget); past it, a failure is dead-lettered with kind "
        "retry-budget rather than retried.",
    )
    retry_budget_window: GoDuration = Field(timedelta(seconds=60), description="The retry budget's sliding window.")
    retry_budget_min: int = Field(
        10, ge=0, description="Retries per retry_budget_window a function always has, however few its first attempts."
    )
    callback_attempts: int = Field(10, ge=1, description="Most POSTs of one callback (connection errors and 5xx).")
    callback_stream: str = Field(
        "faasq-callbacks",
        description="The JetStream stream of pending callbacks: a run's result is stored here before its call "
        "is acked, and delivered by the callback sender, never in a run slot.",
    )
    callback_concurrency: int = Field(256, ge=1, description="Callbacks this process delivers at once.")
    callback_per_host: int = Field(64, ge=1, description="Callbacks this process delivers at once to one host.")
    callback_backlog: int = Field(
        1024, ge=1, description="Pending callbacks this process holds at most (waiting on their host, or on a retry)."
    )
    callback_initial_wait: GoDuration = Field(
        timedelta(milliseconds=500), description="Wait before a callback's second POST; it doubles, with jitter."
    )
    callback_max_wait: GoDuration = Field(
        timedelta(seconds=10), description="Longest wait between two POSTs of a callback (10 attempts: about 1 minute)."
    )
    callback_signing_secret: SecretStr | None = Field(
        None,
        description="Sign every callback with HMAC-SHA256 under this secret; else the file "
        "'callback-signing-secret' in secret_mount_path, if there is one.",
    )
    shutdown_grace: GoDuration = Field(
        timedelta(seconds=25), description="On SIGTERM, how long in-flight calls may finish before they are cancelled."
    )
    call_status: bool = Field(True, description="Keep each call's status record in the call status bucket.")
    status_result_bytes: int = Field(
        0, ge=0, description="Keep up to this many bytes of each function's response in its status record (0: none)."
    )
    write_debug: bool = Field(False, description="Log every call at debug level.")
    metrics_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="Serve this worker's GET /metrics on this port (0: not served; under 'faasq up' the gateway's "
        "/metrics has every worker's series).",
    )
    metrics_bind_address: str = Field("0.0.0.0", description="Address the metrics_port listens on.")  # noqa: S104
    basic_auth: bool = Field(False, description="Send the gateway's basic auth credentials with each invocation.")
    secret_mount_path: Path = Field(
        Path("/run/secrets/"), description="Folder holding the files basic-auth-user and basic-auth-password."
    )

    @field_validator("faas_nats_queue_group")
    @classmethod
    def _group_name(cls, value: str) -> str:
        return jetstream_name(value, "queue group")

    @field_validator("callback_stream")
    @classmethod
    def _callback_stream(cls, value: str) -> str:
        return jetstream_name(value, "stream")

    @field_validator("queue")
    @classmethod
    def _queue_name(cls, value: str) -> str:
        queue_subject("s", value)  # raises ValueError with the rule
        return value

    @field_validator("functions_provider_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return None if value is None else base_url(value, "http://127.0.0.1:8081/")

    @field_validator("ack_wait", "upstream_timeout", "callback_timeout", "callback_initial_wait", "callback_max_wait")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        return positive_duration(value)

    @field_validator("retry_http_codes")
    @classmethod
    def _status_codes(cls, value: frozenset[int]) -> frozenset[int]:
        if not all(100 <= code <= 599 for code in value):
            raise ValueError("expected HTTP status codes from 100 to 599")
        return value

    @field_validator("shutdown_grace", "initial_retry_wait", "max_retry_wait", "max_event_age")
    @classmethod
    def _not_negative(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise ValueError("must not be negative")
        return value

    @model_validator(mode="after")
    def _waits_in_order(self) -> WorkerSettings:
        if self.initial_retry_wait > self.max_retry_wait:
            raise ValueError("initial_retry_wait must not be over max_retry_wait")
        return self

    @model_validator(mode="after")
    def _provider_when_direct(self) -> WorkerSettings:
        if not self.gateway_invoke and self.functions_provider_url is None:
            raise ValueError("gateway_invoke=false needs functions_provider_url")
        return self

    @property
    def retry_policy(self) -> RetryPolicy:
        """The retry policy of calls that do not override it: the settings ``RETRY_SETTINGS`` names, in seconds."""
        values: dict[str, Any] = {setting.field: getattr(self, setting.setting) for setting in RETRY_SETTINGS}
        seconds = {field: value.total_seconds() for field, value in values.items() if isinstance(value, timedelta)}
        return RetryPolicy(**(values | seconds))

    def signing_secret(self) -> bytes | None:
        """The callback signing secret: the setting, else the file ``callback-signing-secret``, else None.

        Raises:
            OSError: the file exists but cannot be read.
        """
        if self.callback_signing_secret is not None:
            return self.callback_signing_secret.get_secret_value().encode()
        path = self.secret_mount_path / "callback-signing-secret"
        if not path.exists():
            return None
        return path.read_text().strip().encode() or None

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
