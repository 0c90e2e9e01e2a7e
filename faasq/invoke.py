"""``faasq invoke``: call a function synchronously or asynchronously, as ``faas-cli invoke`` does."""

from __future__ import annotations

import argparse
import hashlib
import hmac
from urllib.parse import quote

import httpx

from faasq.client import ANY_STATUS
from faasq.context import Console, Context, add_gateway_options, parse_pairs
from faasq.errors import CliError

__all__ = ["function_path", "register", "signature"]


def function_path(name: str, namespace: str | None, *, asynchronous: bool) -> str:
    """``/function/<name>[.<namespace>]`` or its ``/async-function/`` twin."""
    target = f"{name}.{namespace}" if namespace else name
    return f"/{'async-function' if asynchronous else 'function'}/{quote(target)}"


def signature(body: bytes, key: str) -> str:
    """faas-cli's ``--sign`` value: ``sha256=<hex HMAC-SHA256 of the body>``."""
    return "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def run(args: argparse.Namespace, ctx: Context) -> int:
    if bool(args.sign) != bool(args.key):
        raise CliError("--sign and --key go together: --sign names the header, --key is the HMAC key")
    if args.callback_url and not args.asynchronous:
        raise CliError("--callback-url needs --async: only an asynchronous call has a callback")
    headers = {"Content-Type": args.content_type, **dict(parse_pairs(args.header, "header"))}
    if args.callback_url:
        headers["X-Callback-Url"] = args.callback_url
    query = parse_pairs(args.query, "query")
    if ctx.console.stdin.isatty():
        ctx.console.err("Reading from STDIN - hit (Control + D) to stop.")
    body = ctx.console.stdin.read()
    if args.sign:
        headers[args.sign] = signature(body, args.key)
    path = function_path(args.name, args.namespace, asynchronous=args.asynchronous)
    with ctx.gateway(args, timeout=None) as gateway:
        response = gateway.request(
            args.method.upper(), path, content=body, headers=headers, params=query, accept=ANY_STATUS
        )
    return _report(response, ctx.console, asynchronous=args.asynchronous)


def _report(response: httpx.Response, console: Console, *, asynchronous: bool) -> int:
    if asynchronous and response.status_code == httpx.codes.ACCEPTED:
        console.err("Function submitted asynchronously.")
        if call_id := response.headers.get("X-Call-Id"):
            console.out(call_id)  # on stdout alone, so scripts can capture it
        return 0
    if response.is_success and not asynchronous:
        console.write(response.content)
        return 0
    console.err(f"Server returned unexpected status code: {response.status_code} - ".encode() + response.content)
    if not response.content.endswith(b"\n"):
        console.err(b"\n")
    return 1


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``invoke`` to the command line."""
    parser = add_gateway_options(commands.add_parser("invoke", help="call a function with stdin as the body"))
    parser.add_argument("name", help="the function")
    parser.add_argument("-a", "--async", dest="asynchronous", action="store_true", help="queue the call; print its id")
    parser.add_argument(
        "--callback-url", metavar="URL", help="with --async: POST the function's result to this URL (X-Callback-Url)"
    )
    parser.add_argument("-H", "--header", action="append", default=[], metavar="KEY=VALUE", help="add a header")
    parser.add_argument("--query", action="append", default=[], metavar="KEY=VALUE", help="add a query parameter")
    parser.add_argument("-m", "--method", default="POST", help="HTTP method (default: POST)")
    parser.add_argument("--content-type", default="text/plain", help="Content-Type (default: text/plain)")
    parser.add_argument("--sign", metavar="HEADER", help="sign the body with HMAC-SHA256 into this header")
    parser.add_argument("--key", help="the HMAC key for --sign")
    parser.set_defaults(run=run)
