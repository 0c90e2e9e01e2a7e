"""``faasq secret create|update|list|remove``: manage secrets through ``/system/secrets``."""

from __future__ import annotations

import argparse
from pathlib import Path

from pydantic import ValidationError

from faasq.client import decode
from faasq.context import Console, Context, add_gateway_options
from faasq.errors import CliError
from provider.types import Secret, wire

__all__ = ["read_secret", "register"]


def read_secret(args: argparse.Namespace, ctx: Context) -> Secret:
    """The secret named on the command line, its value from ``--from-literal``, ``--from-file`` or stdin.

    A file's bytes travel as ``rawValue`` (base64), as faas-cli sends them; text from stdin is trimmed, as in
    faas-cli, and binary stdin goes as ``rawValue``.

    Raises:
        CliError: the name is not a DNS label, or the file cannot be read.
    """
    return _secret({"name": args.name, "namespace": args.namespace or None, **_value(args, ctx.console)})


def _value(args: argparse.Namespace, console: Console) -> dict[str, object]:
    if args.from_literal is not None:
        return {"value": args.from_literal}
    if args.from_file is not None:
        try:
            return {"raw_value": Path(args.from_file).read_bytes()}
        except OSError as exc:
            raise CliError(f"cannot read {args.from_file}: {exc.strerror}") from None
    if console.stdin.isatty():
        console.err("Reading from STDIN - hit (Control + D) to stop.")
    data = console.stdin.read()
    try:
        return {"value": data.decode().strip()}
    except UnicodeDecodeError:
        return {"raw_value": data}  # binary: sent as bytes, untrimmed


def _secret(fields: dict[str, object]) -> Secret:
    try:
        return Secret.model_validate(fields)
    except ValidationError:
        raise CliError(f"invalid secret name {fields['name']!r}: use lowercase letters, digits and '-'") from None


def run_create(args: argparse.Namespace, ctx: Context) -> int:
    secret = read_secret(args, ctx)
    ctx.console.out(f"Creating secret: {secret.name}.")
    with ctx.gateway(args) as gateway:
        response = gateway.request("POST", "/system/secrets", json=wire(secret))
    ctx.console.out(f"Created: {response.status_code} {response.reason_phrase}")
    return 0


def run_update(args: argparse.Namespace, ctx: Context) -> int:
    secret = read_secret(args, ctx)
    ctx.console.out(f"Updating secret: {secret.name}.")
    with ctx.gateway(args) as gateway:
        response = gateway.request("PUT", "/system/secrets", json=wire(secret))
    ctx.console.out(f"Updated: {response.status_code} {response.reason_phrase}")
    return 0


def run_remove(args: argparse.Namespace, ctx: Context) -> int:
    secret = _secret({"name": args.name, "namespace": args.namespace or None})
    with ctx.gateway(args) as gateway:
        response = gateway.request("DELETE", "/system/secrets", json=wire(secret), accept=(200, 202, 204, 404))
    if response.status_code == 404:
        ctx.console.err(f"No existing secret to remove: {secret.name}")
        return 1
    ctx.console.out(f"Removed: {response.status_code} {response.reason_phrase}")
    return 0


def run_list(args: argparse.Namespace, ctx: Context) -> int:
    params = {"namespace": args.namespace} if args.namespace else {}
    with ctx.gateway(args) as gateway:
        secrets = decode(gateway.request("GET", "/system/secrets", params=params), list[Secret])
    if not secrets:
        ctx.console.out("No secrets found.")
        return 0
    ctx.console.out("NAME")
    for secret in sorted(secrets, key=lambda s: s.name):
        ctx.console.out(secret.name)
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``secret`` and its subcommands to the command line."""
    secret = commands.add_parser("secret", help="manage secrets")
    actions = secret.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, run, verb in (("create", run_create, "create"), ("update", run_update, "replace the value of")):
        parser = add_gateway_options(actions.add_parser(action, help=f"{verb} a secret"))
        parser.add_argument("name", help="the secret")
        source = parser.add_mutually_exclusive_group()
        source.add_argument("--from-literal", metavar="VALUE", help="the value (default: read stdin)")
        source.add_argument("--from-file", metavar="FILE", help="read the value from a file, bytes as they are")
        parser.set_defaults(run=run)
    remove = add_gateway_options(actions.add_parser("remove", aliases=["rm"], help="remove a secret"))
    remove.add_argument("name", help="the secret")
    remove.set_defaults(run=run_remove)
    listing = add_gateway_options(actions.add_parser("list", aliases=["ls"], help="list secrets (names only)"))
    listing.set_defaults(run=run_list)
