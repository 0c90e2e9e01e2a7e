"""deploy sends faas-cli's body: PUT first, POST when the function is new, DELETE first with --replace."""

import json
from pathlib import Path

import httpx
import pytest

from faasq.deploy import build_deployment
from faasq.stack import StackFunction, load_stack
from provider.types import wire
from tests.support.cli import Cli

STACK = """
provider: {name: openfaas, gateway: http://stack-gw:8080}
functions:
  echo:
    image: functions/alpine:latest
    fprocess: cat
    environment: {a: "1"}
  wc:
    image: functions/alpine:latest
    fprocess: wc -c
    namespace: other
    limits: {memory: 64Mi}
"""


def test_body_has_faas_cli_fields_and_always_sends_maps() -> None:
    body = wire(build_deployment(StackFunction(name="echo", image="img", fprocess="cat")))
    assert body == {
        "service": "echo",
        "image": "img",
        "envProcess": "cat",
        "envVars": {},
        "constraints": [],
        "secrets": [],
        "labels": {},
        "annotations": {},
        "readOnlyRootFilesystem": False,
    }


def test_body_of_a_full_function(tmp_path: Path) -> None:
    (tmp_path / "env.yml").write_text("environment: {FROM_FILE: x, SHARED: file}\n")
    (tmp_path / "stack.yml").write_text(
        """
functions:
  fn:
    image: img:1
    fprocess: python3 handler.py
    environment: {SHARED: inline}
    environment_file: [env.yml]
    secrets: [key]
    labels: {com.openfaas.scale.min: 2}
    annotations: {topic: t}
    constraints: [x == y]
    limits: {memory: 128Mi, cpu: 100m}
    requests: {cpu: 50m}
    readonly_root_filesystem: true
"""
    )
    fn = load_stack(tmp_path / "stack.yml", {}).functions["fn"]
    assert wire(build_deployment(fn, "ns1")) == {
        "service": "fn",
        "image": "img:1",
        "namespace": "ns1",
        "envProcess": "python3 handler.py",
        "envVars": {"FROM_FILE": "x", "SHARED": "inline"},
        "constraints": ["x == y"],
        "secrets": ["key"],
        "labels": {"com.openfaas.scale.min": "2"},
        "annotations": {"com.faasq.workdir": str(tmp_path.resolve()), "topic": "t"},
        "limits": {"memory": "128Mi", "cpu": "100m"},
        "requests": {"cpu": "50m"},
        "readOnlyRootFilesystem": True,
    }


def test_stack_namespace_wins_over_the_flag() -> None:
    assert build_deployment(StackFunction(name="f", namespace="mine"), "flag").namespace == "mine"


def stack_file(tmp_path: Path) -> str:
    path = tmp_path / "stack.yml"
    path.write_text(STACK)
    return str(path)


def test_deploy_puts_then_posts_new_functions(cli: Cli, tmp_path: Path) -> None:
    cli.routes["PUT /system/functions"] = lambda r: httpx.Response(
        202 if json.loads(r.content)["service"] == "echo" else 404
    )
    cli.routes["POST /system/functions"] = httpx.Response(202)
    assert cli("deploy", "-f", stack_file(tmp_path)) == 0
    assert [(m, p, body["service"]) for m, p, body in cli.bodies()] == [  # type: ignore[index]
        ("PUT", "/system/functions", "echo"),
        ("PUT", "/system/functions", "wc"),
        ("POST", "/system/functions", "wc"),
    ]
    assert all(r.url.host == "stack-gw" for r in cli.requests)
    assert cli.stdout == (
        "Deploying: echo.\nDeployed. 202 Accepted.\nURL: http://stack-gw:8080/function/echo\n"
        "Deploying: wc.\nDeployed. 202 Accepted.\nURL: http://stack-gw:8080/function/wc\n"
    )


def test_deploy_replace_deletes_first_and_filter_selects(cli: Cli, tmp_path: Path) -> None:
    cli.routes["DELETE /system/functions"] = httpx.Response(404)
    cli.routes["POST /system/functions"] = httpx.Response(200)
    assert cli("deploy", "-f", stack_file(tmp_path), "--replace", "--filter", "w*", "-g", "http://flag") == 0
    assert next((m, body) for m, _, body in cli.bodies()) == ("DELETE", {"functionName": "wc", "namespace": "other"})
    assert [m for m, _, _ in cli.bodies()] == ["DELETE", "POST"]
    assert cli.requests[0].url.host == "flag"


def test_deploy_reports_failures_and_continues(cli: Cli, tmp_path: Path) -> None:
    cli.routes["PUT /system/functions"] = lambda r: (
        httpx.Response(400, text="validation failed: no envProcess")
        if json.loads(r.content)["service"] == "echo"
        else httpx.Response(202)
    )
    assert cli("deploy", "-f", stack_file(tmp_path)) == 1
    assert cli.stderr == (
        "Unexpected status deploying echo: 400 Bad Request: validation failed: no envProcess\nFailed to deploy: echo\n"
    )
    assert "Deployed. 202 Accepted." in cli.stdout


def test_deploy_with_a_bad_stack_file_is_one_line(cli: Cli, tmp_path: Path) -> None:
    assert cli("deploy", "-f", str(tmp_path / "missing.yml")) == 1
    assert cli.stderr == f"faasq: {tmp_path / 'missing.yml'}: no such file\n"
    assert cli.requests == []


def test_flags_add_to_the_stack_and_win(cli: Cli, tmp_path: Path) -> None:
    cli.routes["PUT /system/functions"] = httpx.Response(202)
    args = ["-e", "a=override", "-e", "b=new", "-l", "team=x", "--annotation", "topic=t", "--secret", "s1"]
    assert cli("deploy", "-f", stack_file(tmp_path), "--filter", "echo", "--constraint", "c", *args) == 0
    body = cli.bodies()[0][2]
    assert isinstance(body, dict)
    assert (body["envVars"], body["labels"], body["annotations"]) == (
        {"a": "override", "b": "new"},
        {"team": "x"},
        {"topic": "t", "com.faasq.workdir": str(tmp_path.resolve())},  # the stack file's folder
    )
    assert (body["secrets"], body["constraints"]) == (["s1"], ["c"])


def test_one_function_from_flags_needs_no_stack_file(cli: Cli) -> None:
    cli.routes["PUT /system/functions"] = httpx.Response(404)
    cli.routes["POST /system/functions"] = httpx.Response(202)
    assert cli("deploy", "--name", "rev", "--fprocess", "rev", "-e", "k=v") == 0
    assert cli.bodies()[-1] == (
        "POST",
        "/system/functions",
        {
            "service": "rev",
            "image": "",
            "envProcess": "rev",
            "envVars": {"k": "v"},
            "constraints": [],
            "secrets": [],
            "labels": {},
            "annotations": {},
            "readOnlyRootFilesystem": False,
        },
    )


def test_bad_flags_are_one_line(cli: Cli) -> None:
    assert cli("deploy", "--name", "rev") == 1
    assert cli.stderr == "faasq: --name needs --fprocess: the command that runs the function\n"
    assert cli("deploy", "--name", "Rev", "--fprocess", "rev") == 1
    assert cli.stderr == "faasq: invalid function name 'Rev': use lowercase letters, digits and '-'\n"
    assert cli("deploy", "--name", "rev", "--fprocess", "rev", "-e", "novalue") == 1
    assert cli.stderr == "faasq: invalid --env 'novalue': use key=value\n"
    assert cli("deploy", "--name", "rev", "--fprocess", "rev", "--annotation", "com.faasq.rate=fast") == 1
    assert cli.stderr == (
        "faasq: function 'rev': annotations: annotation com.faasq.rate must be a rate such as 5/s, 100/m "
        "or 1000/h, got 'fast'\n"
    )
    assert cli.requests == []


def test_default_stack_file_is_stack_yml(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli("deploy") == 1
    assert cli.stderr == "faasq: stack.yml: no such file\n"
