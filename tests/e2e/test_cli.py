"""The faasq command line against a real ``faasq up -f examples/stack.yml``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.polling import until
from tests.support.stack import EXAMPLES, Stack, faasq

pytestmark = pytest.mark.e2e

EXAMPLE_FUNCTIONS = ["echo", "env", "flaky", "hello", "http-echo", "slow", "wc"]


def test_banner_names_the_functions_and_the_url(stack: Stack) -> None:
    assert f"Functions: {', '.join(EXAMPLE_FUNCTIONS)}" in stack.lines
    assert f"  export OPENFAAS_URL={stack.url}" in stack.lines
    assert "  echo hi | faasq invoke echo" in stack.lines


@pytest.mark.parametrize(
    ("function", "body", "expected"),
    [
        ("echo", b"hi\n", b"hi\n"),
        ("echo", bytes(range(256)), bytes(range(256))),
        ("hello", b"Ada\n", b"Hello, Ada!\n"),
        ("hello", b"", b"Hello, world!\n"),
        ("http-echo", b"over http\n", b"over http\n"),
        ("slow", b"after a while", b"after a while"),
    ],
)
def test_invoke_writes_exactly_the_response(stack: Stack, function: str, body: bytes, expected: bytes) -> None:
    result = stack.cli("invoke", function, stdin=body)
    assert (result.returncode, result.stdout, result.stderr) == (0, expected, b"")


def test_invoke_wc_counts_bytes(stack: Stack) -> None:
    result = stack.run("invoke", "wc", stdin=b"hello\n")
    assert result.returncode == 0
    assert result.stdout.strip() == b"6"  # some wc builds pad the number


def test_invoke_passes_method_headers_and_query(stack: Stack) -> None:
    result = stack.run("invoke", "env", "-m", "PUT", "-H", "X-Team=blue", "--query", "q=1", "--content-type", "a/b")
    lines = result.stdout.decode().splitlines()
    assert result.returncode == 0
    assert {"Http_Method=PUT", "Http_X_Team=blue", "Http_Query=q=1", "Http_Content_Type=a/b"} <= set(lines)
    result = stack.run("invoke", "http-echo", "-m", "GET", "--query", "a=b")
    assert result.stdout == b"GET /?a=b\n"


def test_invoke_unknown_function_fails_with_the_body(stack: Stack) -> None:
    result = stack.cli("invoke", "no-such-fn", stdin=b"x")
    assert result.returncode == 1
    assert result.stdout == b""
    assert result.stderr.startswith(b"Server returned unexpected status code: 404 - ")
    assert b"no-such-fn" in result.stderr


def test_list_and_describe(stack: Stack) -> None:
    listed = stack.run("list")
    rows = [line.split("\t") for line in listed.stdout.decode().splitlines()]
    assert [row[0].strip() for row in rows] == ["Function", *EXAMPLE_FUNCTIONS]
    assert all(row[2].strip() == "1" for row in rows[1:])
    described = stack.run("describe", "hello").stdout.decode().splitlines()
    assert "Status:              Ready" in described
    assert "Available replicas:  1" in described
    assert "Function process:    python3 functions/hello/handler.py" in described
    assert f"URL:                 {stack.url}/function/hello" in described


def test_describe_unknown_function(stack: Stack) -> None:
    result = stack.run("describe", "no-such-fn")
    assert (result.returncode, result.stderr) == (1, b"faasq: No such function: no-such-fn\n")


def test_redeploying_the_examples_updates_them(stack: Stack) -> None:
    result = stack.cli("deploy", "-f", str(EXAMPLES), "--filter", "echo")
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().splitlines() == [
        "Deploying: echo.",
        "Deployed. 202 Accepted.",
        f"URL: {stack.url}/function/echo",
    ]
    until(lambda: stack.cli("invoke", "echo", stdin=b"again").stdout == b"again" or None, within=20)


def test_deploy_invoke_and_remove_a_new_function(stack: Stack, tmp_path: Path) -> None:
    (tmp_path / "env.yml").write_text("environment:\n  GREETING: from-file\n")
    (tmp_path / "stack.yml").write_text(
        "functions:\n  e2e-rev:\n    fprocess: rev\n    environment_file: [env.yml]\n    labels: {team: e2e}\n"
    )
    assert stack.run("deploy", "-f", str(tmp_path / "stack.yml")).returncode == 0
    until(lambda: b"Status:              Ready" in stack.run("describe", "e2e-rev").stdout or None, within=20)
    described = stack.run("describe", "e2e-rev").stdout.decode().splitlines()
    labels = ["Labels:              faas_function : e2e-rev", "                     team : e2e"]
    assert labels == described[described.index(labels[0]) : described.index(labels[0]) + 2]
    assert "Environment:         GREETING : from-file" in described
    assert stack.run("invoke", "e2e-rev", stdin=b"abc\n").stdout == b"cba\n"
    removed = stack.run("remove", "e2e-rev")
    assert (removed.returncode, removed.stdout) == (0, b"Deleting: e2e-rev.\nRemoving old function: e2e-rev.\n")
    assert stack.run("invoke", "e2e-rev", stdin=b"x").returncode == 1
    again = stack.run("remove", "e2e-rev")
    assert (again.returncode, again.stderr) == (1, b"No existing function to remove\n")


def test_secrets(stack: Stack, tmp_path: Path) -> None:
    (tmp_path / "value").write_bytes(b"\x00binary")
    assert stack.run("secret", "create", "e2e-literal", "--from-literal", "v1").returncode == 0
    assert stack.run("secret", "create", "e2e-file", "--from-file", str(tmp_path / "value")).returncode == 0
    names = stack.run("secret", "list").stdout.decode().splitlines()
    assert names[0] == "NAME"
    assert {"e2e-literal", "e2e-file"} <= set(names[1:])
    duplicate = stack.run("secret", "create", "e2e-literal", "--from-literal", "v2")
    assert (duplicate.returncode, duplicate.stderr.startswith(b"faasq: 409 Conflict: ")) == (1, True)
    assert stack.run("secret", "update", "e2e-literal", "--from-literal", "v2").returncode == 0
    for name in ("e2e-literal", "e2e-file"):
        assert stack.run("secret", "remove", name).returncode == 0
    gone = stack.run("secret", "remove", "e2e-file")
    assert (gone.returncode, gone.stderr) == (1, b"No existing secret to remove: e2e-file\n")


def test_logs_show_the_watchdog_lines(stack: Stack) -> None:
    assert stack.run("invoke", "echo", stdin=b"log me").returncode == 0

    def logged() -> list[str] | None:
        lines = stack.run("logs", "echo", "--no-follow").stdout.decode().splitlines()
        return lines if any("Forking fprocess." in line for line in lines) else None

    line = next(line for line in until(logged) if "Forking fprocess." in line)
    timestamp, name, instance, *_ = line.split(" ")
    assert (name, instance.startswith("(echo-"), timestamp.endswith("Z")) == ("echo", True, True)
    assert len(stack.run("logs", "echo", "--no-follow", "--tail", "1").stdout.splitlines()) == 1


def test_namespaces_and_version(stack: Stack) -> None:
    assert stack.run("namespaces").stdout == b"Namespaces:\n - openfaas-fn\n"
    version = stack.run("version").stdout.decode().splitlines()
    assert f" uri:     {stack.url}" in version
    assert " name:          faasq-local" in version


def test_gateway_flag_wins_over_the_environment(stack: Stack) -> None:
    result = faasq("list", "-g", stack.url, env={"OPENFAAS_URL": "http://127.0.0.1:1"})
    assert result.returncode == 0
    assert "echo" in [line.split("\t")[0].strip() for line in result.stdout.decode().splitlines()]
