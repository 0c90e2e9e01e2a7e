"""``faasq logs``: stream a function's log lines from ``GET /system/logs`` (NDJSON)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from pydantic import ValidationError

from faasq.context import Context, add_gateway_options
from faasq.errors import CliError
from provider.types import LogMessage, parse_moment

__all__ = ["format_line", "register", "since_timestamp"]


def since_timestamp(text: str, now: datetime) -> str:
    """``--since``: a duration back from ``now`` ("5m", "1h30m") or an RFC3339 time, as RFC3339 in UTC.

    Raises:
        CliError: it is neither.
    """
    try:
        return _rfc3339(parse_moment(text, now))
    except ValueError:
        raise CliError(f"invalid --since {text!r}: use a duration such as 5m or an RFC3339 time") from None


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def format_line(message: LogMessage) -> str:
    """faas-cli's plain format: ``<timestamp> <name> (<instance>) <text>``."""
    return f"{_rfc3339(message.timestamp)} {message.name} ({message.instance}) {message.text.rstrip(chr(10))}"


def query(args: argparse.Namespace, now: datetime) -> dict[str, str]:
    """The query string of ``GET /system/logs`` for these options."""
    params = {"name": args.name, "follow": "true" if args.follow else "false"}
    if args.namespace:
        params["namespace"] = args.namespace
    if args.instance:
        params["instance"] = args.instance
    if args.tail is not None:
        params["tail"] = str(args.tail)
    if args.since:
        params["since"] = since_timestamp(args.since, now)
    return params


def run(args: argparse.Namespace, ctx: Context) -> int:
    params = query(args, datetime.now(UTC))
    with ctx.gateway(args, timeout=None) as gateway, gateway.stream("GET", "/system/logs", params=params) as response:
        for line in response.iter_lines():
            if not line.strip():
                continue
            try:
                ctx.console.out(format_line(LogMessage.model_validate_json(line)))
            except ValidationError:
                ctx.console.err(f"unreadable log line: {line}")
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``logs`` to the command line."""
    parser = add_gateway_options(commands.add_parser("logs", help="print a function's logs"))
    parser.add_argument("name", help="the function")
    parser.add_argument("--tail", type=int, help="only the last N lines (default: all)")
    parser.add_argument("--since", help="only lines newer than a duration (5m) or an RFC3339 time")
    parser.add_argument(
        "--follow", action=argparse.BooleanOptionalAction, default=True, help="keep printing new lines (default)"
    )
    parser.add_argument("--instance", help="only this replica's lines")
    parser.set_defaults(run=run)
