"""The wire types speak OpenFaaS's JSON and reject malformed input clearly."""

from datetime import timedelta

import pytest
from pydantic import TypeAdapter, ValidationError

from provider.types import (
    FunctionDeployment,
    FunctionStatus,
    GoDuration,
    ScaleServiceRequest,
    Secret,
    parse_go_duration,
    split_namespace,
    wire,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("1m5s", 65),
        ("1h", 3600),
        ("250ms", 0.25),
        ("1.5s", 1.5),
        ("10", 10),
        ("0", 0),
        ("2.5", 2.5),
        ("1h2m3s4ms", 3723.004),
        ("-5s", -5),
        (" 7s ", 7),
        (12, 12),
        (0.5, 0.5),
    ],
)
def test_parse_go_duration(text: object, seconds: float) -> None:
    assert parse_go_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "s", "5x", "1m5", "abc", "5 s", "--5s"])
def test_parse_go_duration_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_go_duration(text)


@pytest.mark.parametrize("value", [None, True, [1]])
def test_parse_go_duration_rejects_other_types(value: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_go_duration(value)


def test_go_duration_annotation_validates() -> None:
    adapter: TypeAdapter[timedelta] = TypeAdapter(GoDuration)
    assert adapter.validate_python("1m") == timedelta(minutes=1)
    with pytest.raises(ValidationError, match="invalid duration"):
        adapter.validate_python("soon")


def test_deployment_reads_faas_cli_json_and_ignores_unknown_fields() -> None:
    body = {
        "service": "echo",
        "image": "ghcr.io/example/echo:latest",
        "namespace": "openfaas-fn",
        "envProcess": "cat",
        "envVars": {"write_debug": "true"},
        "constraints": [],
        "secrets": ["api-key"],
        "labels": {"com.openfaas.scale.min": "2"},
        "annotations": {"topic": "cron-function"},
        "limits": {"memory": "128Mi", "nvidia.com/gpu": "1"},
        "readOnlyRootFilesystem": True,
        "registryAuth": "ignored",
        "network": "ignored",
    }
    deployment = FunctionDeployment.model_validate(body)
    assert deployment.env_process == "cat"
    assert deployment.limits is not None
    assert deployment.limits.nvidia_gpu == "1"
    assert deployment.read_only_root_filesystem is True
    expected = {k: v for k, v in body.items() if k not in {"registryAuth", "network"}}
    assert wire(deployment) == expected


def test_deployment_rejects_bad_names_and_types() -> None:
    with pytest.raises(ValidationError, match="service"):
        FunctionDeployment.model_validate({"service": "Not_A_DNS_Label", "image": "x"})
    with pytest.raises(ValidationError, match="service"):
        FunctionDeployment.model_validate({"image": "x"})
    with pytest.raises(ValidationError, match="envVars"):
        FunctionDeployment.model_validate({"service": "ok", "envVars": ["not", "a", "map"]})


def test_status_omits_unset_fields() -> None:
    status = FunctionStatus(name="echo", image="echo:latest", replicas=1, available_replicas=0, invocation_count=3)
    assert wire(status) == {
        "name": "echo",
        "image": "echo:latest",
        "replicas": 1,
        "availableReplicas": 0,
        "invocationCount": 3.0,
    }


def test_scale_request_rejects_negative_replicas() -> None:
    assert ScaleServiceRequest.model_validate({"serviceName": "echo", "replicas": 2}).service_name == "echo"
    with pytest.raises(ValidationError, match="replicas"):
        ScaleServiceRequest.model_validate({"serviceName": "echo", "replicas": -1})


def test_secret_raw_value_is_base64_both_ways() -> None:
    secret = Secret.model_validate({"name": "api-key", "rawValue": "AAEC/w=="})
    assert secret.payload() == b"\x00\x01\x02\xff"
    assert wire(secret) == {"name": "api-key", "rawValue": "AAEC/w=="}
    assert Secret(name="token", value="s3cret").payload() == b"s3cret"
    with pytest.raises(ValidationError, match="base64"):
        Secret.model_validate({"name": "api-key", "rawValue": "not base64!"})


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("echo", ("echo", "openfaas-fn")),
        ("echo.team-a", ("echo", "team-a")),
        ("a.b.c", ("a.b", "c")),
        ("echo.", ("echo.", "openfaas-fn")),
        (".ns", (".ns", "openfaas-fn")),
    ],
)
def test_split_namespace(name: str, expected: tuple[str, str]) -> None:
    assert split_namespace(name, "openfaas-fn") == expected
