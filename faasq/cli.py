"""The ``faasq`` command: faas-cli's commands against the gateway, plus ``faasq up`` to run the stack.

Errors end the command with one line on stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from faasq import batch, builds, calls, deploy, dlq, functions, invoke, login, logs, secrets, system, top, up
from faasq.context import Console, Context
from faasq.errors import CliError

__all__ = ["build_parser", "main", "run"]


def build_parser() -> argparse.ArgumentParser:
    """The ``faasq`` argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="faasq", description="Asynchronous function invocation that speaks OpenFaaS's contracts."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (up, builds, deploy, functions, invoke, calls, batch, logs, secrets, system, login, dlq, top):
        module.register(commands)
    return parser


def run(argv: Sequence[str], ctx: Context) -> int:
    """Parse ``argv`` and run the command in ``ctx``; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args, ctx)
    except CliError as exc:
        ctx.console.err(f"faasq: {exc}")
        return 1
    except KeyboardInterrupt:
        return 130
    return code


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``faasq`` console script."""
    console = Console(stdin=sys.stdin.buffer, stdout=sys.stdout.buffer, stderr=sys.stderr.buffer)
    try:
        code = run(sys.argv[1:] if argv is None else argv, Context(console=console, environ=os.environ))
    except BrokenPipeError:
        # `faasq logs name | head` closed our stdout: not an error; keep Python from complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    sys.exit(code)
