"""``faasq namespaces`` and ``faasq version``: what the gateway says about itself."""

from __future__ import annotations

import argparse
import importlib.metadata
from typing import Any

from faasq.client import decode
from faasq.context import Context, add_gateway_options

__all__ = ["register", "version_lines"]


def version_lines(info: dict[str, Any], gateway_url: str, cli_version: str) -> list[str]:
    """The CLI's version and the ``GET /system/info`` answer of a gateway or of a provider reached directly."""
    lines = ["CLI:", f" version: {cli_version}", "", "Gateway:", f" uri:     {gateway_url}"]
    provider = info.get("provider")
    if isinstance(provider, dict):  # the gateway's shape: {"provider": ProviderInfo, "version": VersionInfo, ...}
        lines += _version_fields(info.get("version"), indent=9)
        if info.get("arch"):
            lines.append(f" arch:    {info['arch']}")
    else:  # a provider reached directly answers with ProviderInfo itself
        provider = info
    lines += ["", "Provider:", f" name:          {provider.get('provider', '')}"]
    lines.append(f" orchestration: {provider.get('orchestration', '')}")
    return lines + _version_fields(provider.get("version"), indent=15)


def _version_fields(version: object, *, indent: int) -> list[str]:
    if not isinstance(version, dict):
        return []
    fields = [("version", version.get("release")), ("sha", version.get("sha"))]
    return [f" {label + ':':<{indent}}{value}" for label, value in fields if value]


def run_version(args: argparse.Namespace, ctx: Context) -> int:
    with ctx.gateway(args) as gateway:
        info = decode(gateway.request("GET", "/system/info"), dict[str, Any])
        url = gateway.url
    for line in version_lines(info, url, importlib.metadata.version("faasq")):
        ctx.console.out(line)
    return 0


def run_namespaces(args: argparse.Namespace, ctx: Context) -> int:
    with ctx.gateway(args) as gateway:
        namespaces = decode(gateway.request("GET", "/system/namespaces"), list[str])
    ctx.console.out("Namespaces:")
    for namespace in namespaces:
        ctx.console.out(f" - {namespace}")
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``namespaces`` and ``version`` to the command line."""
    namespaces = commands.add_parser("namespaces", aliases=["ns"], help="list the namespaces functions may use")
    add_gateway_options(namespaces).set_defaults(run=run_namespaces)
    version = commands.add_parser("version", help="print the CLI's and the gateway's versions")
    add_gateway_options(version).set_defaults(run=run_version)
