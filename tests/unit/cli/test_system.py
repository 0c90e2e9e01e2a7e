"""namespaces and version."""

import httpx

from faasq.system import version_lines
from tests.support.cli import Cli


def test_namespaces(cli: Cli) -> None:
    cli.routes["GET /system/namespaces"] = httpx.Response(200, json=["openfaas-fn", "dev"])
    assert cli("namespaces") == 0
    assert cli.stdout == "Namespaces:\n - openfaas-fn\n - dev\n"


def test_version_from_a_provider(cli: Cli) -> None:
    info = {"provider": "faasq-local", "orchestration": "local", "version": {"release": "0.1.0", "sha": "abc"}}
    cli.routes["GET /system/info"] = httpx.Response(200, json=info)
    assert cli("version", "-g", "http://gw") == 0
    lines = cli.stdout.splitlines()
    assert lines[0] == "CLI:"
    assert lines[3:] == [
        "Gateway:",
        " uri:     http://gw",
        "",
        "Provider:",
        " name:          faasq-local",
        " orchestration: local",
        " version:       0.1.0",
        " sha:           abc",
    ]


def test_version_from_a_gateway() -> None:
    info = {
        "provider": {"provider": "faas-netes-ce", "orchestration": "kubernetes", "version": {"release": "0.18"}},
        "version": {"release": "0.27.0", "sha": "def"},
        "arch": "x86_64",
    }
    assert version_lines(info, "http://gw", "9.9") == [
        "CLI:",
        " version: 9.9",
        "",
        "Gateway:",
        " uri:     http://gw",
        " version: 0.27.0",
        " sha:     def",
        " arch:    x86_64",
        "",
        "Provider:",
        " name:          faas-netes-ce",
        " orchestration: kubernetes",
        " version:       0.18",
    ]
