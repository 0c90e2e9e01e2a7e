"""``faasq top``: a full-screen view of the functions and queues, refreshed every second.

It reads the dashboard's overview (``GET /ui/api/overview``) and draws it with Rich. Keys:
``s`` sorts by the next column, ``r`` reverses the order, ``/`` filters the functions by
name (Enter keeps the filter, Esc clears it), ``q`` or Ctrl-C quits. Without a terminal
(or with ``--once``) it prints the view once.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import sys
import termios
import time
import tty
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from faasq.client import decode
from faasq.context import Context, add_gateway_options
from faasq.errors import CliError

__all__ = ["SORTS", "TopView", "register"]

_ESCAPE, _ENTER, _BACKSPACE = "\x1b", ("\r", "\n"), ("\x7f", "\b")


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


def _number(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


_KEYS = {
    "name": lambda f: f["name"],
    "queued": lambda f: f["queued"],
    "running": lambda f: f["inFlight"],
    "calls": lambda f: f["invocations"],
    "rate": lambda f: f["rate"] or 0.0,
    "wait": lambda f: f["waitP99"] or 0.0,
    "errors": lambda f: f["errorRate"] or 0.0,
    "dead": lambda f: f["deadLetters"],
}
SORTS = tuple(_KEYS)
"""The columns the functions can be sorted by, in the order ``s`` goes through them."""


@dataclass
class TopView:
    """What the screen shows, and the keys that change it."""

    sort: str = "name"
    reverse: bool = False
    filter: str = ""
    editing: bool = False
    done: bool = False

    def key(self, key: str) -> None:
        """Take one key press."""
        if self.editing:
            self._edit(key)
        elif key in ("q", "Q", "\x03"):
            self.done = True
        elif key == "s":
            self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        elif key == "r":
            self.reverse = not self.reverse
        elif key == "/":
            self.editing, self.filter = True, ""
        elif key == _ESCAPE:
            self.filter = ""

    def _edit(self, key: str) -> None:
        """A key typed into the filter."""
        if key in _ENTER:
            self.editing = False
        elif key == _ESCAPE:
            self.editing, self.filter = False, ""
        elif key in _BACKSPACE:
            self.filter = self.filter[:-1]
        elif key.isprintable():
            self.filter += key

    def render(self, overview: dict[str, Any] | None, url: str, error: str | None, *, keys: bool = True) -> Group:
        """The screen for ``overview`` (the last one read), and why the latest read failed, if it did."""
        order = "descending" if self.reverse != (self.sort != "name") else "ascending"
        header = Text.assemble(
            ("faasq top", "bold"), f"  {url}  ", (time.strftime("%H:%M:%S"), "dim"),
            f"  sort: {self.sort} ({order})", f"  filter: {self.filter or '—'}{'▏' if self.editing else ''}",
        )  # fmt: skip
        parts: list[Any] = [header]
        if error:
            parts.append(Text(f"not updated: {error}", style="red"))
        if overview is not None:
            parts += [self._functions(overview.get("functions", [])), self._queues(overview.get("queues", []))]
        if keys:
            parts.append(Text("s sort  r reverse  / filter  q quit", style="dim"))
        return Group(*parts)

    def _functions(self, functions: list[dict[str, Any]]) -> Table:
        shown = [f for f in functions if self.filter.lower() in f["name"].lower()]
        descending = self.sort != "name"
        shown.sort(key=_KEYS[self.sort], reverse=descending != self.reverse)
        title = "Functions (P50, P99: how long calls waited in the queue)"
        table = Table(title=title, title_justify="left", expand=True, box=None, header_style="bold")
        table.add_column("FUNCTION", no_wrap=True, min_width=8, ratio=1, overflow="ellipsis")
        for column, justify in (
            ("READY", "right"), ("CALLS", "right"), ("QUEUED", "right"), ("RUNNING", "right"),
            ("RATE/S", "right"), ("P50", "right"), ("P99", "right"), ("ERRORS", "right"),
            ("DEAD", "right"),
        ):  # fmt: skip
            table.add_column(column, justify=justify)  # type: ignore[arg-type]
        for f in shown:
            replicas = f"{_number(f['availableReplicas'])}/{_number(f['replicas'])}" if f["deployed"] else "—"
            table.add_row(
                f["name"], replicas, _number(f["invocations"]), _number(f["queued"]), _number(f["inFlight"]),
                _number(f["rate"], 2), _seconds(f["waitP50"]), _seconds(f["waitP99"]), _percent(f["errorRate"]),
                _number(f["deadLetters"]),
            )  # fmt: skip
        if not shown:
            table.add_row(Text("no function matches" if functions else "no functions deployed", style="dim"))
        return table

    @staticmethod
    def _queues(queues: list[dict[str, Any]]) -> Table:
        table = Table(title="Queues", title_justify="left", expand=True, box=None, header_style="bold")
        for column, justify in (("QUEUE", "left"), ("PENDING", "right"), ("RUNNING", "right"), ("RATE/S", "right"),
                                ("OLDEST", "right")):  # fmt: skip
            table.add_column(column, justify=justify)  # type: ignore[arg-type]
        for q in queues:
            table.add_row(
                q["name"], _number(q["pending"]), _number(q["inFlight"]), _number(q["throughput"], 2),
                _seconds(q["oldestWaitingSeconds"]),
            )  # fmt: skip
        return table


@contextlib.contextmanager
def _keys(fd: int) -> Iterator[None]:
    """The terminal reads key by key (no echo, no waiting for Enter) until the block ends."""
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _read_keys(fd: int, timeout: float) -> str:
    """The keys pressed within ``timeout`` seconds ("" if none)."""
    ready, _, _ = select.select([fd], [], [], max(0.0, timeout))
    return os.read(fd, 64).decode(errors="replace") if ready else ""


def run_top(args: argparse.Namespace, ctx: Context) -> int:
    view = TopView(sort=args.sort, filter=args.filter or "")
    console = Console()
    if not console.is_terminal:  # a pipe or a file: wide enough for every column
        console = Console(width=max(console.width, 132))
    with ctx.gateway(args) as gateway:
        url = gateway.url

        def read() -> tuple[dict[str, Any] | None, str | None]:
            try:
                return decode(gateway.request("GET", "/ui/api/overview"), dict[str, Any]), None
            except CliError as exc:
                return None, str(exc)

        if args.once or not (sys.stdin.isatty() and console.is_terminal):
            overview, error = read()
            console.print(view.render(overview, url, error, keys=False))
            return 1 if error else 0
        fd = sys.stdin.fileno()
        last: dict[str, Any] | None = None
        with _keys(fd), Live(console=console, screen=True, auto_refresh=False) as live:
            while not view.done:
                overview, error = read()
                last = overview or last
                live.update(view.render(last, url, error), refresh=True)
                until = time.monotonic() + args.interval
                while not view.done and (left := until - time.monotonic()) > 0:
                    pressed = _read_keys(fd, left)
                    if not pressed:
                        break
                    if pressed.startswith(_ESCAPE):
                        view.key(_ESCAPE)  # Esc, or an arrow key's sequence: only Esc means something here
                    else:
                        for key in pressed:
                            view.key(key)
                    live.update(view.render(last, url, None), refresh=True)
    return 0


def _interval(text: str) -> float:
    seconds = float(text)
    if not 0.2 <= seconds <= 3600:
        raise argparse.ArgumentTypeError(f"{text} is not between 0.2 and 3600 seconds")
    return seconds


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``top`` to the command line."""
    top = commands.add_parser("top", help="a live view of the functions and queues (q quits)")
    top.add_argument("--interval", type=_interval, default=1.0, help="seconds between two refreshes (default 1)")
    top.add_argument("--sort", choices=SORTS, default="name", help="the column to sort the functions by")
    top.add_argument("--filter", help="only the functions whose name contains this")
    top.add_argument("--once", action="store_true", help="print the view once and exit (as without a terminal)")
    add_gateway_options(top).set_defaults(run=run_top)
