"""list, describe and remove: faas-cli's requests and output."""

import json

import httpx

from faasq.functions import describe_lines, list_lines
from provider.types import FunctionStatus
from tests.support.cli import Cli

ECHO = {
    "name": "echo",
    "image": "functions/alpine:latest",
    "namespace": "openfaas-fn",
    "envProcess": "cat",
    "envVars": {"B": "2", "A": "1"},
    "labels": {"team": "x"},
    "annotations": {"topic": "t"},
    "secrets": ["key"],
    "limits": {"memory": "64Mi"},
    "replicas": 2,
    "availableReplicas": 1,
}


def test_list_table(cli: Cli) -> None:
    cli.routes["GET /system/functions"] = httpx.Response(
        200, json=[{**ECHO, "invocationCount": 7.0}, {"name": "a", "image": "i", "replicas": 0}]
    )
    cli.environ["OPENFAAS_URL"] = "http://env-gw:1234"
    assert cli("list", "-n", "ns1") == 0
    assert str(cli.requests[0].url) == "http://env-gw:1234/system/functions?namespace=ns1"
    assert cli.stdout.splitlines() == [
        f"{'Function':<30}\t{'Invocations':<15}\t{'Replicas':<5}",
        f"{'a':<30}\t{'0':<15}\t{'0':<5}",
        f"{'echo':<30}\t{'7':<15}\t{'2':<5}",
    ]


def test_list_verbose_truncates_long_images() -> None:
    fn = FunctionStatus(name="f", image="x" * 50, invocation_count=1, replicas=1)
    assert list_lines([fn], verbose=True)[1] == f"{'f':<30}\t{'x' * 38 + '..':<40}\t{'1':<15}\t{'1':<5}"


def test_describe(cli: Cli) -> None:
    cli.routes["GET /system/function/echo"] = httpx.Response(200, json=ECHO)
    cli.routes["GET /system/functions"] = httpx.Response(200, json=[{**ECHO, "invocationCount": 3}])
    assert cli("describe", "echo", "-g", "http://gw:8080") == 0
    assert str(cli.requests[0].url) == "http://gw:8080/system/function/echo?usage=1"
    assert cli.stdout.splitlines() == [
        "Name:                echo",
        "Namespace:           openfaas-fn",
        "Status:              Ready",
        "Replicas:            2",
        "Available replicas:  1",
        "Invocations:         3",
        "Image:               functions/alpine:latest",
        "Function process:    cat",
        "URL:                 http://gw:8080/function/echo",
        "Async URL:           http://gw:8080/async-function/echo",
        "Labels:              team : x",
        "Annotations:         topic : t",
        "Environment:         A : 1",
        "                     B : 2",
        "Secrets:             key",
        "Limits:              memory : 64Mi",
    ]


def test_describe_shows_usage() -> None:
    fn = FunctionStatus.model_validate({"name": "f", "usage": {"cpu": 12.4, "totalMemoryBytes": 3 * 1024 * 1024}})
    assert describe_lines(fn, "http://gw")[-2:] == [
        "Usage:               RAM: 3.00 MB",
        "                     CPU: 12 Mi",
    ]


def test_describe_not_ready_uses_its_own_count() -> None:
    fn = FunctionStatus(name="f", image="", invocation_count=4, replicas=1, available_replicas=0)
    lines = describe_lines(fn, "http://gw")
    assert "Status:              Not Ready" in lines
    assert "Invocations:         4" in lines


def test_describe_unknown_function(cli: Cli) -> None:
    cli.routes["GET /system/function/nope"] = httpx.Response(404)
    assert cli("describe", "nope", "-n", "ns") == 1
    assert str(cli.requests[0].url).endswith("/system/function/nope?usage=1&namespace=ns")
    assert cli.stderr == "faasq: No such function: nope\n"


def test_remove(cli: Cli) -> None:
    cli.routes["DELETE /system/functions"] = httpx.Response(202)
    assert cli("remove", "echo", "-n", "ns") == 0
    assert cli.bodies() == [("DELETE", "/system/functions", {"functionName": "echo", "namespace": "ns"})]
    assert cli.stdout == "Deleting: echo.\nRemoving old function: echo.\n"


def test_remove_missing(cli: Cli) -> None:
    cli.routes["DELETE /system/functions"] = httpx.Response(404)
    assert cli("rm", "nope") == 1
    assert json.loads(cli.requests[0].content) == {"functionName": "nope"}
    assert cli.stderr == "No existing function to remove\n"


def test_connection_refused_is_one_line(cli: Cli) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    cli.routes["GET /system/functions"] = refuse
    assert cli("list") == 1
    assert cli.stdout == ""
    assert cli.stderr == (
        "faasq: cannot connect to http://127.0.0.1:8080: is faasq running? (start it with `make up` or `faasq up`)\n"
    )


def test_server_error_is_the_server_message(cli: Cli) -> None:
    cli.routes["GET /system/functions"] = httpx.Response(500, text="provider down")
    assert cli("list") == 1
    assert cli.stderr == "faasq: 500 Internal Server Error: provider down\n"
