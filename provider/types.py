"""The shared vocabulary: faas-provider's wire types with OpenFaaS's JSON field names.

Every component speaks these models. JSON names are OpenFaaS's (``envProcess``,
``availableReplicas``, ...); Python names are snake_case. Unknown fields are ignored,
as Go's ``encoding/json`` does, so newer faas-cli versions keep working. Serialise
with :func:`wire` to drop unset optional fields (Go's ``omitempty``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, field_validator
from pydantic.alias_generators import to_camel

__all__ = [
    "CONCURRENCY_ANNOTATION",
    "CONCURRENCY_PER_KEY_ANNOTATION",
    "DEFAULT_NAMESPACE",
    "DNS_LABEL",
    "FUNCTION_LABEL",
    "LOCAL_BUILD_FILE",
    "NETWORK_ANNOTATION",
    "PRIORITIES",
    "PRIORITY_ANNOTATION",
    "RATE_ANNOTATION",
    "RATE_BURST_ANNOTATION",
    "SCALE_FACTOR",
    "SCALE_LABELS",
    "SCALE_MAX",
    "SCALE_MIN",
    "SCALE_TARGET",
    "SCALE_TARGET_PROPORTION",
    "SCALE_TYPE",
    "SCALE_ZERO",
    "SCALE_ZERO_DURATION",
    "WORKDIR_ANNOTATION",
    "DeleteFunctionRequest",
    "FlowAnnotations",
    "FunctionDeployment",
    "FunctionResources",
    "FunctionStatus",
    "FunctionUsage",
    "GoDuration",
    "LocalBuild",
    "LogMessage",
    "LogRequest",
    "ProviderInfo",
    "ScaleLabels",
    "ScaleServiceRequest",
    "ScaleType",
    "Secret",
    "VersionInfo",
    "build_folder",
    "flow_annotations",
    "parse_go_duration",
    "parse_moment",
    "parse_rate",
    "scale_labels",
    "split_namespace",
    "wire",
]

DEFAULT_NAMESPACE = "openfaas-fn"
FUNCTION_LABEL = "faas_function"
"""The label every function carries, valued its name, as faas-netes sets it (and lists it)."""
WORKDIR_ANNOTATION = "com.faasq.workdir"
"""faasq's annotation: the folder a local function's replicas run in (``faasq deploy`` sends the stack file's)."""
NETWORK_ANNOTATION = "com.faasq.network"
"""faasq's annotation: ``private`` (a network of the replica's own, loopback only) or ``host`` (this machine's)."""

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
"""A DNS label (RFC 1123): what a function or secret may be named."""


def parse_go_duration(value: object) -> timedelta:
    """Parse a Go duration ("30s", "1m5s", "250ms") or a bare number of seconds, as OpenFaaS does.

    Raises:
        ValueError: the value is neither a number nor a Go duration.
    """
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        text = str(value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise ValueError(f"expected a duration such as '30s' or a number of seconds, got {value!r}")
    try:
        seconds = float(text)
    except ValueError:
        sign, body = (-1, text[1:]) if text.startswith("-") else (1, text.removeprefix("+"))
        parts = _DURATION_PART.findall(body)
        if not body or "".join(n + u for n, u in parts) != body:
            raise ValueError(
                f"invalid duration {value!r}: use a number of seconds or a Go duration like '1m30s'"
            ) from None
        seconds = sign * sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    try:
        return timedelta(seconds=seconds)
    except (OverflowError, ValueError):  # infinite, not a number, or beyond timedelta's range
        raise ValueError(f"invalid duration {value!r}: out of range") from None


def parse_moment(text: str, now: datetime) -> datetime:
    """A point in time: a Go duration back from ``now`` ("5m", "1h30m") or an RFC 3339 time (UTC if it has no zone).

    Raises:
        ValueError: it is neither.
    """
    try:
        return now - parse_go_duration(text)
    except OverflowError:
        raise ValueError(f"invalid time {text!r}: too long ago") from None
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"invalid time {text!r}: use a duration such as 5m or an RFC 3339 time") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


GoDuration = Annotated[timedelta, BeforeValidator(parse_go_duration)]
"""A duration setting: "30s", "1m5s", "500ms", or a bare number of seconds."""


def _decode_base64(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        raise ValueError("rawValue must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"rawValue is not valid base64: {exc}") from exc


Base64Bytes = Annotated[
    bytes,
    BeforeValidator(_decode_base64),
    PlainSerializer(lambda raw: base64.b64encode(raw).decode("ascii"), return_type=str),
]


def split_namespace(name: str, default: str) -> tuple[str, str]:
    """Split ``fn.ns`` at the last dot into (function, namespace), as the OpenFaaS gateway does."""
    function, dot, namespace = name.rpartition(".")
    if dot and function and namespace:
        return function, namespace
    return name, default


def wire(model: BaseModel) -> dict[str, Any]:
    """Dump a model as OpenFaaS JSON: JSON names, unset optional fields left out."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


class WireModel(BaseModel):
    """Base for wire types: camelCase JSON names, snake_case in Python, unknown fields ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_name=True, validate_by_alias=True, serialize_by_alias=True, extra="ignore"
    )


class FunctionResources(WireModel):
    """Resource limits or requests, in Kubernetes quantity notation ("128Mi", "100m")."""

    memory: str | None = None
    cpu: str | None = None
    nvidia_gpu: str | None = Field(None, alias="nvidia.com/gpu")
    amd_gpu: str | None = Field(None, alias="amd.com/gpu")
    intel_gpu: str | None = Field(None, alias="intel.com/gpu")


class _FunctionSpec(WireModel):
    image: str = ""
    namespace: str | None = None
    env_process: str | None = None
    env_vars: dict[str, str] | None = None
    constraints: list[str] | None = None
    secrets: list[str] | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    limits: FunctionResources | None = None
    requests: FunctionResources | None = None
    read_only_root_filesystem: bool | None = None


class FunctionDeployment(_FunctionSpec):
    """A request to deploy or update a function (``POST``/``PUT /system/functions``).

    ``service`` must be a DNS label, as faas-netes requires; faasq's flow-control
    annotations (:func:`flow_annotations`) must read.
    """

    service: str = Field(pattern=DNS_LABEL.pattern, description="The function's name, a DNS label.")

    @field_validator("annotations")
    @classmethod
    def _flow(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        flow_annotations(value)  # raises ValueError naming the annotation
        return value


class FunctionUsage(WireModel):
    """Resource usage of a function's replicas."""

    cpu: float = 0.0
    total_memory_bytes: float = 0.0


class FunctionStatus(_FunctionSpec):
    """A deployed function as ``GET /system/functions`` reports it."""

    name: str
    invocation_count: float | None = None
    replicas: int | None = None
    available_replicas: int | None = None
    created_at: datetime | None = None
    usage: FunctionUsage | None = None


class ScaleServiceRequest(WireModel):
    """Body of ``POST /system/scale-function/<name>``."""

    service_name: str = ""
    replicas: int = Field(ge=0)
    namespace: str | None = None


class DeleteFunctionRequest(WireModel):
    """Body of ``DELETE /system/functions``."""

    function_name: str = Field(min_length=1)
    namespace: str | None = None


class VersionInfo(BaseModel):
    """Build information; its JSON names are snake_case upstream too."""

    model_config = ConfigDict(extra="ignore")

    commit_message: str | None = None
    sha: str = ""
    release: str = ""


class ProviderInfo(WireModel):
    """Body of the provider's ``GET /system/info``."""

    provider: str
    orchestration: str
    version: VersionInfo


class Secret(WireModel):
    """A secret; ``GET /system/secrets`` reports names only, never values."""

    name: str = Field(pattern=DNS_LABEL.pattern)
    namespace: str | None = None
    value: str | None = None
    raw_value: Base64Bytes | None = None

    def payload(self) -> bytes:
        """The secret's bytes: ``rawValue`` if given, else ``value``."""
        if self.raw_value is not None:
            return self.raw_value
        return (self.value or "").encode()


class LogRequest(WireModel):
    """Query of ``GET /system/logs``."""

    name: str = Field(min_length=1)
    namespace: str | None = None
    instance: str | None = None
    since: datetime | None = None
    tail: int = 0
    follow: bool = False


class LogMessage(WireModel):
    """One line of ``GET /system/logs`` (NDJSON)."""

    name: str
    namespace: str
    instance: str
    timestamp: datetime
    text: str


class LocalBuild(BaseModel):
    """faasq's record of a ``lang:`` function built without Docker, keyed by its image.

    ``faasq build`` writes it as ``build.json`` in the build's folder (:func:`build_folder`), the
    template with the handler in ``function/``; the local provider runs a deployment of that image
    there, as a container runtime would run the image.
    """

    model_config = ConfigDict(frozen=True)

    image: str
    lang: str
    fprocess: str = Field(description="The template's process, from its template.yml and Dockerfile.")
    env: dict[str, str] = Field(default_factory=dict, description="The watchdog settings of the template's Dockerfile.")
    python: str | None = Field(None, description="The interpreter of the function's environment, if it has one.")
    built_at: datetime


LOCAL_BUILD_FILE = "build.json"
"""The :class:`LocalBuild` record's file in its build's folder."""


def build_folder(image: str) -> str:
    """The folder name of an image's local build: readable, and distinct for distinct images."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", image).strip("._")[:80] or "image"
    return f"{readable}-{hashlib.sha256(image.encode()).hexdigest()[:8]}"


SCALE_MIN = "com.openfaas.scale.min"
SCALE_MAX = "com.openfaas.scale.max"
SCALE_FACTOR = "com.openfaas.scale.factor"
SCALE_TYPE = "com.openfaas.scale.type"
SCALE_TARGET = "com.openfaas.scale.target"
SCALE_TARGET_PROPORTION = "com.openfaas.scale.target-proportion"
SCALE_ZERO = "com.openfaas.scale.zero"
SCALE_ZERO_DURATION = "com.openfaas.scale.zero-duration"
SCALE_LABELS = (
    SCALE_MIN,
    SCALE_MAX,
    SCALE_FACTOR,
    SCALE_TYPE,
    SCALE_TARGET,
    SCALE_TARGET_PROPORTION,
    SCALE_ZERO,
    SCALE_ZERO_DURATION,
)
"""OpenFaaS's scaling labels (labels, not annotations), every one faasq reads."""
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


class ScaleType(StrEnum):
    """``com.openfaas.scale.type``: what one replica is sized by (OpenFaaS Pro's modes)."""

    RPS = "rps"
    """Invocations per second."""
    CAPACITY = "capacity"
    """Invocations under way at once."""
    QUEUE = "queue"
    """Async calls stored and not finished (waiting, running or waiting to retry)."""


@dataclass(frozen=True)
class ScaleLabels:
    """A function's scaling labels, read and checked (:func:`scale_labels`); the defaults are OpenFaaS's."""

    min_replicas: int = 1
    max_replicas: int = 20
    factor: int = 10
    """Percent of ``max_replicas`` added each time the invocation-rate rule fires (no ``type``)."""
    type: ScaleType | None = None
    """None: OpenFaaS Community Edition's behaviour, the invocation-rate rule."""
    target: float = 50
    """The load one replica is sized for, in the unit of ``type``."""
    target_proportion: float = 0.9
    zero: bool = False
    """Scale to zero replicas after ``zero_duration`` without any load."""
    zero_duration: timedelta | None = None
    """None: the autoscaler's default."""

    @property
    def fixed(self) -> bool:
        """Whether the replica count stays at ``min_replicas`` (factor 0, or min equal to max)."""
        return self.factor == 0 or self.min_replicas == self.max_replicas

    @property
    def step(self) -> int:
        """Replicas one firing of OpenFaaS's invocation-rate alert adds: ``ceil(max * factor / 100)``."""
        return math.ceil(self.max_replicas * self.factor / 100)


def _integer_label(labels: Mapping[str, str], key: str, default: int, low: int, high: int | None = None) -> int:
    text = labels.get(key)
    if text is None:
        return default
    try:
        value = int(text.strip())
    except ValueError:
        raise ValueError(f"label {key} must be an integer, got {text!r}") from None
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ValueError(f"label {key} must be {bounds}, got {value}")
    return value


def _number_label(labels: Mapping[str, str], key: str, default: float, *, at_most: float | None = None) -> float:
    text = labels.get(key)
    if text is None:
        return default
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError(f"label {key} must be a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0 or (at_most is not None and value > at_most):
        bounds = f"above 0 and at most {at_most:g}" if at_most is not None else "above 0"
        raise ValueError(f"label {key} must be {bounds}, got {text.strip()}")
    return value


def scale_labels(labels: Mapping[str, str] | None) -> ScaleLabels:
    """Read a function's scaling labels.

    Raises:
        ValueError: naming the label: not a number, out of range, min above max, an unknown
            type, a zero label that is not a boolean, a duration that is not one.
    """
    labels = labels or {}
    minimum = _integer_label(labels, SCALE_MIN, 1, 1)
    maximum = _integer_label(labels, SCALE_MAX, max(ScaleLabels.max_replicas, minimum), 1)
    if minimum > maximum:
        raise ValueError(f"label {SCALE_MIN} ({minimum}) exceeds {SCALE_MAX} ({maximum})")
    kind = labels.get(SCALE_TYPE)
    if kind is not None and kind.strip().lower() not in set(ScaleType):
        choices = ", ".join(ScaleType)
        raise ValueError(f"label {SCALE_TYPE} must be one of {choices}, got {kind!r}")
    zero = labels.get(SCALE_ZERO, "false").strip().lower()
    if zero not in _BOOLEANS:
        raise ValueError(f"label {SCALE_ZERO} must be true or false, got {labels[SCALE_ZERO]!r}")
    duration = labels.get(SCALE_ZERO_DURATION)
    idle = None
    if duration is not None:
        try:
            idle = parse_go_duration(duration)
        except ValueError as exc:
            raise ValueError(f"label {SCALE_ZERO_DURATION}: {exc}") from None
        if idle <= timedelta(0):
            raise ValueError(f"label {SCALE_ZERO_DURATION} must be above 0, got {duration!r}")
    return ScaleLabels(
        min_replicas=minimum,
        max_replicas=maximum,
        factor=_integer_label(labels, SCALE_FACTOR, ScaleLabels.factor, 0, 100),
        type=ScaleType(kind.strip().lower()) if kind is not None else None,
        target=_number_label(labels, SCALE_TARGET, ScaleLabels.target),
        target_proportion=_number_label(labels, SCALE_TARGET_PROPORTION, ScaleLabels.target_proportion, at_most=1),
        zero=_BOOLEANS[zero],
        zero_duration=idle,
    )


CONCURRENCY_ANNOTATION = "com.faasq.concurrency"
"""faasq's annotation: at most this many runs of the function at once, across every worker."""
CONCURRENCY_PER_KEY_ANNOTATION = "com.faasq.concurrency-per-key"
"""faasq's annotation: at most this many runs at once per value of a call's ``X-Concurrency-Key``."""
RATE_ANNOTATION = "com.faasq.rate"
"""faasq's annotation: runs started at most this often, ``<n>/s``, ``<n>/m`` or ``<n>/h``, shared by every worker."""
RATE_BURST_ANNOTATION = "com.faasq.rate-burst"
"""faasq's annotation: runs that may start at once after a quiet spell (the rate's bucket size); default 1."""
PRIORITY_ANNOTATION = "com.faasq.priority"
"""faasq's annotation: the priority of the function's calls that do not set ``X-Priority``: high, normal or low."""
PRIORITIES = ("high", "normal", "low")

_RATE = re.compile(r"\A\s*(\d+(?:\.\d+)?)\s*/\s*(s|m|h)\s*\Z")
_PER = {"s": 1.0, "m": 60.0, "h": 3600.0}
_MOST = 1_000_000


@dataclass(frozen=True)
class FlowAnnotations:
    """A function's flow-control annotations, read and checked (:func:`flow_annotations`); 0 where unset."""

    concurrency: int = 0
    concurrency_per_key: int = 0
    rate: float = 0.0
    """Runs per second."""
    rate_burst: int = 0
    priority: str = ""
    """Its calls' default priority (one of :data:`PRIORITIES`); empty: normal."""


def parse_rate(text: str) -> float:
    """Runs per second from ``<n>/s``, ``<n>/m`` or ``<n>/h`` (``5/s``, ``100/m``); above zero.

    Raises:
        ValueError: anything else.
    """
    match = _RATE.match(text)
    if match is None or float(match[1]) <= 0:
        raise ValueError(f"must be a rate such as 5/s, 100/m or 1000/h, got {text!r}")
    return float(match[1]) / _PER[match[2]]


def _count(annotations: Mapping[str, str], key: str) -> int:
    text = annotations.get(key)
    if text is None:
        return 0
    value = text.strip()
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= _MOST:
        raise ValueError(f"annotation {key} must be a whole number from 1 to {_MOST}, got {text!r}")
    return int(value)


def flow_annotations(annotations: Mapping[str, str] | None) -> FlowAnnotations:
    """Read a function's flow-control annotations.

    Raises:
        ValueError: naming the annotation: a count that is not a whole number from 1, a rate
            that does not read, a burst without a rate, a priority not in :data:`PRIORITIES`.
    """
    annotations = annotations or {}
    rate = 0.0
    if (text := annotations.get(RATE_ANNOTATION)) is not None:
        try:
            rate = parse_rate(text)
        except ValueError as exc:
            raise ValueError(f"annotation {RATE_ANNOTATION} {exc}") from None
    burst = _count(annotations, RATE_BURST_ANNOTATION)
    if burst and not rate:
        raise ValueError(f"annotation {RATE_BURST_ANNOTATION} needs {RATE_ANNOTATION}")
    priority = annotations.get(PRIORITY_ANNOTATION, "").strip().lower()
    if PRIORITY_ANNOTATION in annotations and priority not in PRIORITIES:
        text = annotations[PRIORITY_ANNOTATION]
        raise ValueError(f"annotation {PRIORITY_ANNOTATION} must be one of high, normal, low, got {text!r}")
    return FlowAnnotations(
        concurrency=_count(annotations, CONCURRENCY_ANNOTATION),
        concurrency_per_key=_count(annotations, CONCURRENCY_PER_KEY_ANNOTATION),
        rate=rate,
        rate_burst=burst,
        priority=priority,
    )
