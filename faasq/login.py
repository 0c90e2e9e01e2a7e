"""``faasq login`` and ``logout``: check and save a gateway's basic-auth credentials (faas-cli's config file)."""

from __future__ import annotations

import argparse

from faasq.client import Gateway, resolve_gateway
from faasq.context import Context
from faasq.credentials import config_path, forget, remember
from faasq.errors import CliError, GatewayError

__all__ = ["register"]


def _url(args: argparse.Namespace, ctx: Context) -> str:
    return resolve_gateway(args.gateway, None, ctx.environ.get("OPENFAAS_URL"))


def _password(args: argparse.Namespace, ctx: Context) -> str:
    if args.password_stdin:
        return ctx.console.stdin.read().decode().strip()
    if args.password is None:
        raise CliError("give the password with --password-stdin (or --password)")
    ctx.console.err("WARNING! Using --password is insecure, consider using: cat password.txt | faasq login -s")
    return str(args.password)


def run_login(args: argparse.Namespace, ctx: Context) -> int:
    url, password = _url(args, ctx), _password(args, ctx)
    if not password:
        raise CliError("the password is empty")
    ctx.console.out("Calling the OpenFaaS server to validate the credentials...")
    with Gateway(url, transport=ctx.transport, credentials=(args.username, password)) as gateway:
        try:
            gateway.request("GET", "/system/functions")
        except GatewayError as exc:
            if exc.status == 401:
                raise CliError("unable to login, either username or password is incorrect") from None
            raise
    path = config_path(ctx.environ)
    remember(path, url, args.username, password)
    ctx.console.out(f"credentials saved for {args.username} {url}")
    return 0


def run_logout(args: argparse.Namespace, ctx: Context) -> int:
    url = _url(args, ctx)
    if not forget(config_path(ctx.environ), url):
        raise CliError(f"you are not logged in to {url}")
    ctx.console.out(f"credentials removed for {url}")
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``login`` and ``logout`` to the command line."""
    login = commands.add_parser("login", help="check and save the gateway's credentials (basic auth)")
    login.add_argument("-g", "--gateway", help="gateway URL (default: $OPENFAAS_URL, or :8080)")
    login.add_argument("-u", "--username", default="admin", help="the user (default: admin)")
    login.add_argument("-s", "--password-stdin", action="store_true", help="read the password from stdin")
    login.add_argument("-p", "--password", help="the password (insecure: it shows in the process list)")
    login.set_defaults(run=run_login)
    logout = commands.add_parser("logout", help="forget the gateway's saved credentials")
    logout.add_argument("-g", "--gateway", help="gateway URL (default: $OPENFAAS_URL, or :8080)")
    logout.set_defaults(run=run_logout)
