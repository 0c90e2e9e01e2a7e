"""``faasq build``: build the stack's ``lang:`` functions without Docker, for the local provider to run by image.

``faasq deploy -f`` and ``faasq up -f`` build them first too; the builds live in
``<state-dir>/builds`` (their Python environments in ``<state-dir>/environments``), where
``faasq up``'s provider finds them.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable
from pathlib import Path

from faasq.context import Console, Context
from faasq.stack import StackFunction
from faasq.templates import build_function
from provider.types import LocalBuild

__all__ = ["DEFAULT_STATE_DIR", "build_all", "builds_dir", "register"]

DEFAULT_STATE_DIR = Path(".faasq")


def builds_dir(state_dir: Path) -> Path:
    """Where the builds of a state directory are (the provider's ``builds_dir``)."""
    return state_dir / "builds"


def build_all(functions: Iterable[StackFunction], state_dir: Path, console: Console) -> dict[str, LocalBuild]:
    """Build every function with ``lang:``; their builds, by function name.

    Raises:
        BuildFailed: a function cannot be built; the message says why.
    """
    state_dir = state_dir.resolve()  # a build records its interpreter's path; replicas run elsewhere
    built: dict[str, LocalBuild] = {}
    for function in functions:
        if function.lang is None or function.skip_build:
            continue
        started = time.monotonic()
        console.err(f"Building {function.name} ({function.lang} template)...")
        built[function.name] = build_function(function, builds_dir(state_dir), state_dir / "environments")
        console.err(f"Built {function.name} as {built[function.name].image} in {time.monotonic() - started:.1f}s")
    return built


def run(args: argparse.Namespace, ctx: Context) -> int:
    stack = ctx.stack(Path(args.yaml or "stack.yml"))
    functions = stack.select(args.filter)
    if not any(function.lang for function in functions):
        ctx.console.err("Nothing to build: no function has lang:")
        return 0
    build_all(functions, Path(args.state_dir), ctx.console)
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``build`` to the command line."""
    parser = commands.add_parser(
        "build", help="build the lang: functions of a stack file without Docker, for the local provider"
    )
    parser.add_argument("-f", "--yaml", help="the stack file (default: stack.yml)")
    parser.add_argument("--filter", help="build only functions whose name matches this wildcard")
    parser.add_argument(
        "--state-dir", default=str(DEFAULT_STATE_DIR), help="where faasq keeps its state and builds (.faasq)"
    )
    parser.set_defaults(run=run)
