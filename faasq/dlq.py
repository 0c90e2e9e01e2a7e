"""``faasq dlq list|show|redrive|purge``: the calls given up on, through ``/system/dead-letters``."""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import quote

from faasq.client import decode
from faasq.context import Context, add_gateway_options
from faasq.errors import CliError

__all__ = ["list_lines", "register", "show_lines"]

PREFIX = "/system/dead-letters"
_REASON_WIDTH = 60


def list_lines(items: list[dict[str, Any]]) -> list[str]:
    """The ``dlq list`` table: call id, function, kind, status, attempts, when, and the reason (shortened)."""
    lines = [
        f"{'Call ID':<36}\t{'Function':<20}\t{'Kind':<8}\t{'Status':<16}\t{'Attempts':<8}\t{'Dead at':<20}\tReason"
    ]
    for item in items:
        reason = str(item.get("reason", ""))
        if len(reason) > _REASON_WIDTH:
            reason = reason[: _REASON_WIDTH - 2] + ".."
        function = f"{item['function']}.{item['namespace']}" if item.get("namespace") else str(item["function"])
        dead_at = str(item.get("deadAt") or "")[:19].replace("T", " ")
        lines.append(
            f"{item['callId']:<36}\t{function:<20}\t{item['kind']:<8}\t{item['status']:<16}\t"
            f"{item['attempts']:<8}\t{dead_at:<20}\t{reason}"
        )
    return lines


def show_lines(item: dict[str, Any]) -> list[str]:
    """``dlq show``: the dead letter's fields, the call's request headers, then its body (text, else base64)."""
    fields = [
        ("Call ID", item["callId"]),
        ("Function", item["function"]),
        ("Namespace", item["namespace"]),
        ("Queue", item["queue"]),
        ("Kind", item["kind"]),
        ("Reason", item["reason"]),
        ("Status", item["status"]),
        ("Attempts", str(item["attempts"])),
        ("Dead at", item.get("deadAt") or ""),
        ("Enqueued at", item.get("enqueuedAt") or ""),
        ("Request", f"{item['method']} {item['path']}" + (f"?{item['query']}" if item.get("query") else "")),
        ("Callback URL", item.get("callbackUrl") or ""),
    ]
    lines = [f"{label + ':':<14} {value}".rstrip() for label, value in fields]
    for index, (name, value) in enumerate(item.get("headers", [])):
        lines.append(f"{'Headers:' if index == 0 else '':<14} {name}: {value}")
    size = item.get("bodyBytes", 0)
    if item.get("bodyObject"):
        lines.append(f"{'Body:':<14} too large for a message: kept in the body bucket as {item['bodyObject']!r}")
    elif item.get("bodyText") is not None:
        lines += [f"{'Body:':<14} {size} bytes", item["bodyText"]]
    else:
        lines += [f"{'Body:':<14} {size} bytes, base64", item.get("body", "")]
    return lines


def _filters(args: argparse.Namespace) -> dict[str, str]:
    pairs = {"function": args.function, "namespace": args.namespace, "since": getattr(args, "since", None)}
    return {key: value for key, value in pairs.items() if value}


def run_list(args: argparse.Namespace, ctx: Context) -> int:
    params = _filters(args) | {"limit": str(args.limit)} | ({"cursor": args.cursor} if args.cursor else {})
    with ctx.gateway(args) as gateway:
        page = decode(gateway.request("GET", PREFIX, params=params), dict[str, Any])
    for line in list_lines(page.get("items", [])):
        ctx.console.out(line)
    if page.get("nextCursor"):
        ctx.console.err(f"More dead letters: add --cursor {page['nextCursor']}")
    return 0


def run_show(args: argparse.Namespace, ctx: Context) -> int:
    with ctx.gateway(args) as gateway:
        item = decode(gateway.request("GET", f"{PREFIX}/{quote(args.call_id, safe='')}"), dict[str, Any])
    for line in show_lines(item):
        ctx.console.out(line)
    return 0


def _one_or_all(args: argparse.Namespace, verb: str) -> None:
    if (args.call_id is None) == (not args.all):
        raise CliError(f"dlq {verb}: name a CALL_ID or use --all (with --function, --namespace, --since to narrow it)")
    if args.call_id is not None and (args.function or args.namespace or args.since):
        raise CliError(f"dlq {verb}: --function, --namespace and --since go with --all, not with a CALL_ID")


def _act(args: argparse.Namespace, ctx: Context, verb: str) -> int:
    """``redrive`` or ``purge`` one dead letter, or all that match the filters."""
    _one_or_all(args, verb)
    method, key, done = ("POST", "redriven", "queued again") if verb == "redrive" else ("DELETE", "purged", "purged")
    with ctx.gateway(args) as gateway:
        if args.call_id is not None:
            one = f"{PREFIX}/{quote(args.call_id, safe='')}"
            response = gateway.request(method, f"{one}/redrive" if verb == "redrive" else one)
        else:
            every = f"{PREFIX}/redrive" if verb == "redrive" else PREFIX
            response = gateway.request(method, every, params=_filters(args))
    call_ids = decode(response, dict[str, list[str]]).get(key, [])
    for call_id in call_ids:
        ctx.console.out(f"{key.capitalize()}: {call_id}")
    ctx.console.out(f"{len(call_ids)} dead letter{'' if len(call_ids) == 1 else 's'} {done}.")
    return 0


def run_redrive(args: argparse.Namespace, ctx: Context) -> int:
    return _act(args, ctx, "redrive")


def run_purge(args: argparse.Namespace, ctx: Context) -> int:
    return _act(args, ctx, "purge")


def _add_filters(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    add_gateway_options(parser)
    parser.add_argument("--function", help="only this function's dead letters")
    parser.add_argument("--since", help="only those given up on since: a duration back (1h) or an RFC 3339 time")
    return parser


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``dlq`` and its subcommands to the command line."""
    dlq = commands.add_parser("dlq", help="list, show, redrive or purge dead-lettered calls")
    actions = dlq.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = _add_filters(actions.add_parser("list", aliases=["ls"], help="list dead letters, oldest first"))
    listing.add_argument("--limit", type=int, default=100, help="most dead letters shown (default 100)")
    listing.add_argument("--cursor", help="show the page after this cursor (printed when there are more)")
    listing.set_defaults(run=run_list)
    show = add_gateway_options(actions.add_parser("show", help="show one dead letter, with its body"))
    show.add_argument("call_id", metavar="CALL_ID")
    show.set_defaults(run=run_show)
    for name, run, what in (("redrive", run_redrive, "queue again"), ("purge", run_purge, "delete")):
        parser = _add_filters(actions.add_parser(name, help=f"{what} one dead letter, or all that match"))
        parser.add_argument("call_id", metavar="CALL_ID", nargs="?")
        parser.add_argument("--all", action="store_true", help=f"{what} every dead letter that matches the filters")
        parser.set_defaults(run=run)
