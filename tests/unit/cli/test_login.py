"""login checks and saves credentials in faas-cli's config file; commands then send them, never to functions."""

import base64
import stat
from pathlib import Path

import httpx
import pytest
import yaml

from faasq.credentials import config_path, forget, lookup, remember
from faasq.errors import CliError
from tests.support.cli import Cli

ADMIN = "Basic " + base64.b64encode(b"admin:s3cret").decode()


def guarded(request: httpx.Request) -> httpx.Response:
    ok = request.headers.get("Authorization") == ADMIN
    return httpx.Response(200, json=[]) if ok else httpx.Response(401, text="invalid credentials")


def test_config_path() -> None:
    assert config_path({"OPENFAAS_CONFIG": "/cfg"}) == Path("/cfg/config.yml")
    assert config_path({"HOME": "/home/ada"}) == Path("/home/ada/.openfaas/config.yml")


def test_remember_lookup_forget_keep_other_entries(tmp_path: Path) -> None:
    path = tmp_path / "openfaas" / "config.yml"
    path.parent.mkdir()
    path.write_text("auths:\n- gateway: http://other:8080\n  auth: oauth2\n  token: abc\nextra: kept\n")
    remember(path, "http://gw:8080", "admin", "pa:ss")
    remember(path, "http://gw:8080/", "admin", "new:pass")
    assert lookup(path, "http://gw:8080") == ("admin", "new:pass")
    assert lookup(path, "http://other:8080") is None  # not basic auth
    document = yaml.safe_load(path.read_text())
    assert document["extra"] == "kept"
    assert [entry["gateway"] for entry in document["auths"]] == ["http://other:8080", "http://gw:8080/"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert forget(path, "http://gw:8080") is True
    assert forget(path, "http://gw:8080") is False
    assert lookup(path, "http://gw:8080") is None


def test_a_broken_config_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text("auths:\n- gateway: http://gw\n  auth: basic\n  token: '%%%'\n")
    with pytest.raises(CliError, match="a saved token is not base64 'user:password'; log in again"):
        lookup(path, "http://gw")
    path.write_text("auths: [\n")
    with pytest.raises(CliError, match=r"^cannot read "):
        lookup(path, "http://gw")
    assert lookup(tmp_path / "missing.yml", "http://gw") is None


def test_login_validates_and_saves_then_commands_send_the_credentials(cli: Cli) -> None:
    cli.routes["GET /system/functions"] = guarded
    cli.routes["POST /function/echo"] = httpx.Response(200, text="ok")
    cli.stdin = b"s3cret\n"
    assert cli("login", "-g", "http://gw:8080", "--password-stdin") == 0
    assert cli.stdout.splitlines()[-1] == "credentials saved for admin http://gw:8080"
    assert cli("list", "-g", "http://gw:8080") == 0
    assert cli.requests[-1].headers["Authorization"] == ADMIN
    assert cli("invoke", "echo", "-g", "http://gw:8080") == 0
    assert "Authorization" not in cli.requests[-1].headers  # the gateway would hand it to the function
    assert cli("list", "-g", "http://elsewhere:8080") == 1
    assert "Authorization" not in cli.requests[-1].headers
    assert cli("logout", "-g", "http://gw:8080") == 0
    assert cli("logout", "-g", "http://gw:8080") == 1
    assert cli.stderr == "faasq: you are not logged in to http://gw:8080\n"


def test_login_with_a_wrong_password_saves_nothing(cli: Cli) -> None:
    cli.routes["GET /system/functions"] = guarded
    assert cli("login", "-p", "wrong") == 1
    assert cli.stderr.splitlines()[-1] == "faasq: unable to login, either username or password is incorrect"
    assert not Path(cli.environ["OPENFAAS_CONFIG"], "config.yml").exists()
    assert cli("login") == 1
    assert cli.stderr == "faasq: give the password with --password-stdin (or --password)\n"
    assert cli("login", "-s") == 1
    assert cli.stderr == "faasq: the password is empty\n"


def test_faas_debug_shows_requests(cli: Cli) -> None:
    cli.routes["GET /system/namespaces"] = httpx.Response(200, json=["openfaas-fn"])
    cli.environ["FAAS_DEBUG"] = "1"
    assert cli("namespaces") == 0
    assert cli.stderr == "> GET http://127.0.0.1:8080/system/namespaces\n< 200 OK\n"
