"""secret create/update/list/remove send faas-provider's Secret."""

import base64
from pathlib import Path

import httpx

from tests.support.cli import Cli


def test_create_from_literal(cli: Cli) -> None:
    cli.routes["POST /system/secrets"] = httpx.Response(202)
    assert cli("secret", "create", "api-key", "--from-literal", "s3cret", "-n", "ns") == 0
    assert cli.bodies() == [("POST", "/system/secrets", {"name": "api-key", "namespace": "ns", "value": "s3cret"})]
    assert cli.stdout == "Creating secret: api-key.\nCreated: 202 Accepted\n"


def test_create_from_file_sends_raw_bytes(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "key.bin").write_bytes(b"\x00\x01binary\n")
    cli.routes["POST /system/secrets"] = httpx.Response(201)
    assert cli("secret", "create", "bin", "--from-file", str(tmp_path / "key.bin")) == 0
    assert cli.bodies()[0][2] == {"name": "bin", "rawValue": base64.b64encode(b"\x00\x01binary\n").decode()}


def test_create_from_stdin_is_trimmed(cli: Cli) -> None:
    cli.routes["POST /system/secrets"] = httpx.Response(202)
    cli.stdin = b"  from-stdin\n"
    assert cli("secret", "create", "k") == 0
    assert cli.bodies()[0][2] == {"name": "k", "value": "from-stdin"}


def test_binary_stdin_is_sent_as_raw_bytes(cli: Cli) -> None:
    cli.routes["POST /system/secrets"] = httpx.Response(202)
    cli.stdin = b"\xff\xfe key \n"
    assert cli("secret", "create", "k") == 0
    assert cli.bodies()[0][2] == {"name": "k", "rawValue": base64.b64encode(b"\xff\xfe key \n").decode()}


def test_create_existing_secret_fails_with_the_message(cli: Cli) -> None:
    cli.routes["POST /system/secrets"] = httpx.Response(409, json={"detail": "secret 'k' already exists"})
    assert cli("secret", "create", "k", "--from-literal", "v") == 1
    assert cli.stderr == "faasq: 409 Conflict: secret 'k' already exists\n"


def test_bad_names_and_files(cli: Cli, tmp_path: Path) -> None:
    assert cli("secret", "create", "Bad_Name", "--from-literal", "v") == 1
    assert cli.stderr == "faasq: invalid secret name 'Bad_Name': use lowercase letters, digits and '-'\n"
    assert cli("secret", "update", "k", "--from-file", str(tmp_path / "none")) == 1
    assert cli.stderr.startswith("faasq: cannot read ")
    assert cli.requests == []


def test_update(cli: Cli) -> None:
    cli.routes["PUT /system/secrets"] = httpx.Response(202)
    assert cli("secret", "update", "k", "--from-literal", "v2") == 0
    assert cli.bodies() == [("PUT", "/system/secrets", {"name": "k", "value": "v2"})]


def test_remove(cli: Cli) -> None:
    cli.routes["DELETE /system/secrets"] = httpx.Response(202)
    assert cli("secret", "remove", "k") == 0
    assert cli.bodies() == [("DELETE", "/system/secrets", {"name": "k"})]
    cli.routes["DELETE /system/secrets"] = httpx.Response(404)
    assert cli("secret", "rm", "k") == 1
    assert cli.stderr == "No existing secret to remove: k\n"


def test_list(cli: Cli) -> None:
    cli.routes["GET /system/secrets"] = httpx.Response(200, json=[{"name": "b"}, {"name": "a", "namespace": "x"}])
    assert cli("secret", "list", "-n", "x") == 0
    assert cli.requests[0].url.params["namespace"] == "x"
    assert cli.stdout == "NAME\na\nb\n"
    cli.routes["GET /system/secrets"] = httpx.Response(200, json=[])
    assert cli("secret", "ls") == 0
    assert cli.stdout == "No secrets found.\n"
