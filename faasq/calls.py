"""``faasq status|cancel CALL_ID``, ``faasq pause|resume NAME``: a call's status and cancel, a function's pause.

A paused function's async calls are accepted and kept, and none starts until it is resumed.
"""

from __future__ import annotations

import argparse
import json
from typing import Any
from urllib.parse import quote

from faasq.client import decode
from faasq.context import Context, add_gateway_options

__all__ = ["register", "summary_lines"]

_FIELDS = (
    ("function", "Function"),
    ("namespace", "Namespace"),
    ("queue", "Queue"),
    ("enqueued_at", "Enqueued"),
    ("started_at", "Started"),
    ("finished_at", "Finished"),
    ("next_attempt_at", "Next attempt"),
    ("status_code", "Status code"),
    ("duration", "Duration (s)"),
    ("reason", "Reason"),
    ("callback_error", "Callback error"),
)


def summary_lines(record: dict[str, Any]) -> list[str]:
    """A status record as aligned ``Label: value`` lines, the state first; absent fields are left out."""
    attempt = record.get("attempt", 0)
    limit = record.get("max_attempts")
    lines = [("Call", record.get("call_id", "")), ("State", record.get("state", ""))]
    if attempt:
        lines.append(("Attempt", f"{attempt} of {limit}" if limit else str(attempt)))
    due = record.get("state") == "scheduled"  # a delayed call: its next attempt is its first, when it is due
    lines += [
        ("Due" if due and key == "next_attempt_at" else label, str(record[key]))
        for key, label in _FIELDS
        if record.get(key) is not None
    ]
    if result := record.get("result"):
        kept = "truncated, " if result.get("truncated") else ""
        lines.append(("Result", f"{result.get('size', 0)} bytes ({kept}{result.get('encoding', 'text')})"))
    width = max(len(label) for label, _ in lines) + 1
    return [f"{label + ':':<{width}} {value}" for label, value in lines]


def _path(call_id: str) -> str:
    return f"/async-calls/{quote(call_id, safe='')}"


def run_status(args: argparse.Namespace, ctx: Context) -> int:
    with ctx.gateway(args) as gateway:
        record = decode(gateway.request("GET", _path(args.call_id)), dict[str, Any])
    if args.json:
        ctx.console.out(json.dumps(record, indent=2))
    else:
        for line in summary_lines(record):
            ctx.console.out(line)
    return 0


def run_cancel(args: argparse.Namespace, ctx: Context) -> int:
    with ctx.gateway(args) as gateway:
        gateway.request("DELETE", _path(args.call_id))  # 404 unknown, 409 started: a GatewayError with the reason
    ctx.console.out(f"Call {args.call_id} cancelled: it will not run.")
    return 0


def run_pause(args: argparse.Namespace, ctx: Context) -> int:
    paused = args.command == "pause"
    query = f"?namespace={quote(args.namespace, safe='')}" if args.namespace else ""
    path = f"/system/async-functions/{quote(args.name, safe='')}/{args.command}{query}"
    with ctx.gateway(args) as gateway:
        gateway.request("POST", path)  # 404: an unknown function, a GatewayError with the reason
    if paused:
        ctx.console.out(f"Async calls of {args.name} paused: they are kept, and none starts until it is resumed.")
    else:
        ctx.console.out(f"Async calls of {args.name} resumed.")
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``status`` and ``cancel`` to the command line."""
    status = add_gateway_options(commands.add_parser("status", help="show an async call's status"))
    status.add_argument("call_id", metavar="CALL_ID", help="the X-Call-Id the gateway answered")
    status.add_argument("--json", action="store_true", help="print the status record as JSON")
    status.set_defaults(run=run_status)
    cancel = add_gateway_options(commands.add_parser("cancel", help="cancel an async call that has not started"))
    cancel.add_argument("call_id", metavar="CALL_ID", help="the X-Call-Id the gateway answered")
    cancel.set_defaults(run=run_cancel)
    for command, what in (("pause", "pause a function's async calls (kept, none starts)"), ("resume", "resume them")):
        parser = add_gateway_options(commands.add_parser(command, help=what))
        parser.add_argument("name", metavar="NAME", help="the function")
        parser.set_defaults(run=run_pause)
