"""``faasq list``, ``describe`` and ``remove``: read and delete deployed functions."""

from __future__ import annotations

import argparse
from urllib.parse import quote

from faasq.client import Gateway, decode
from faasq.context import Context, add_gateway_options
from faasq.errors import GatewayError
from provider.types import DeleteFunctionRequest, FunctionStatus, wire

__all__ = ["describe_lines", "fetch_function", "list_lines", "register"]


def list_lines(functions: list[FunctionStatus], *, verbose: bool = False) -> list[str]:
    """faas-cli's ``list`` table: Function, (Image,) Invocations, Replicas."""
    if verbose:
        lines = [f"{'Function':<30}\t{'Image':<40}\t{'Invocations':<15}\t{'Replicas':<5}"]
        for fn in functions:
            image = fn.image if len(fn.image) <= 40 else fn.image[:38] + ".."
            lines.append(f"{fn.name:<30}\t{image:<40}\t{int(fn.invocation_count or 0):<15}\t{fn.replicas or 0:<5}")
        return lines
    lines = [f"{'Function':<30}\t{'Invocations':<15}\t{'Replicas':<5}"]
    lines += [f"{fn.name:<30}\t{int(fn.invocation_count or 0):<15}\t{fn.replicas or 0:<5}" for fn in functions]
    return lines


def describe_lines(fn: FunctionStatus, gateway_url: str) -> list[str]:
    """faas-cli's ``describe`` output, plus the environment, secrets and resources it leaves out."""
    fields = [
        ("Name", fn.name),
        ("Status", "Ready" if (fn.available_replicas or 0) > 0 else "Not Ready"),
        ("Replicas", str(fn.replicas or 0)),
        ("Available replicas", str(fn.available_replicas or 0)),
        ("Invocations", str(int(fn.invocation_count or 0))),
        ("Image", fn.image),
        ("Function process", fn.env_process or ""),
        ("URL", f"{gateway_url}/function/{fn.name}"),
        ("Async URL", f"{gateway_url}/async-function/{fn.name}"),
    ]
    if fn.namespace:
        fields.insert(1, ("Namespace", fn.namespace))
    lines = [f"{label + ':':<20} {value}".rstrip() for label, value in fields]
    for label, mapping in (("Labels", fn.labels), ("Annotations", fn.annotations), ("Environment", fn.env_vars)):
        lines += _mapping_lines(label, mapping or {})
    for label, items in (("Secrets", fn.secrets), ("Constraints", fn.constraints)):
        lines += _mapping_lines(label, dict.fromkeys(items or [], ""))
    for label, resources in (("Requests", fn.requests), ("Limits", fn.limits)):
        lines += _mapping_lines(label, wire(resources) if resources is not None else {})
    if fn.usage is not None:
        megabytes = fn.usage.total_memory_bytes / 1024 / 1024
        lines += [f"{'Usage:':<20} RAM: {megabytes:.2f} MB", f"{'':<20} CPU: {fn.usage.cpu:.0f} Mi"]
    return lines


def _mapping_lines(label: str, mapping: dict[str, str]) -> list[str]:
    lines = []
    for index, (key, value) in enumerate(sorted(mapping.items())):
        head = f"{label + ':':<20}" if index == 0 else " " * 20
        lines.append(f"{head} {key} : {value}" if value else f"{head} {key}")
    return lines


def fetch_function(gateway: Gateway, name: str, namespace: str | None) -> FunctionStatus | None:
    """``GET /system/function/<name>``; None if there is no such function."""
    params = {"usage": "1", **({"namespace": namespace} if namespace else {})}
    response = gateway.request("GET", f"/system/function/{quote(name)}", params=params, accept=(200, 404))
    if response.status_code == 404:
        return None
    return decode(response, FunctionStatus)


def list_functions(gateway: Gateway, namespace: str | None) -> list[FunctionStatus]:
    """``GET /system/functions``, sorted by name."""
    params = {"namespace": namespace} if namespace else {}
    response = gateway.request("GET", "/system/functions", params=params)
    return sorted(decode(response, list[FunctionStatus]), key=lambda fn: fn.name)


def run_list(args: argparse.Namespace, ctx: Context) -> int:
    with ctx.gateway(args) as gateway:
        functions = list_functions(gateway, args.namespace)
    for line in list_lines(functions, verbose=args.verbose):
        ctx.console.out(line)
    return 0


def run_describe(args: argparse.Namespace, ctx: Context) -> int:
    with ctx.gateway(args) as gateway:
        fn = fetch_function(gateway, args.name, args.namespace)
        if fn is None:
            raise GatewayError(f"No such function: {args.name}", status=404)
        if fn.invocation_count is None:
            # The OpenFaaS gateway adds invocation counts to the list only, so faas-cli reads them there.
            listed = {item.name: item for item in list_functions(gateway, args.namespace)}
            fn = fn.model_copy(update={"invocation_count": getattr(listed.get(fn.name), "invocation_count", None)})
        url = gateway.url
    for line in describe_lines(fn, url):
        ctx.console.out(line)
    return 0


def run_remove(args: argparse.Namespace, ctx: Context) -> int:
    body = wire(DeleteFunctionRequest(function_name=args.name, namespace=args.namespace))
    ctx.console.out(f"Deleting: {args.name}.")
    with ctx.gateway(args) as gateway:
        response = gateway.request("DELETE", "/system/functions", json=body, accept=(200, 202, 404))
    if response.status_code == 404:
        ctx.console.err("No existing function to remove")
        return 1
    ctx.console.out(f"Removing old function: {args.name}.")
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``list``, ``describe`` and ``remove`` to the command line."""
    listing = add_gateway_options(commands.add_parser("list", aliases=["ls"], help="list deployed functions"))
    listing.add_argument("-v", "--verbose", action="store_true", help="show each function's image too")
    listing.set_defaults(run=run_list)
    describe = add_gateway_options(commands.add_parser("describe", help="show a function's details and status"))
    describe.add_argument("name", help="the function")
    describe.set_defaults(run=run_describe)
    remove = add_gateway_options(commands.add_parser("remove", aliases=["rm"], help="remove a deployed function"))
    remove.add_argument("name", help="the function")
    remove.set_defaults(run=run_remove)
