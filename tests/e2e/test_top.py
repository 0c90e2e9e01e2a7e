"""``faasq top`` as a person uses it: in a pseudo-terminal on a real stack, its screen read by a terminal emulator."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pexpect
import pyte
import pytest

from tests.support.paths import ROOT
from tests.support.polling import until
from tests.support.sockets import free_port
from tests.support.stack import ENVIRON, EXAMPLES, FAASQ, Stack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

COLUMNS, LINES = 140, 40
TERMINAL_ENV = {name: value for name, value in ENVIRON.items() if name not in ("COLUMNS", "LINES")}
"""The environment, without a size that would override the terminal's (pytest's own run may set one)."""


class Terminal:
    """A program in a pseudo-terminal, and the screen it draws (as pyte renders its output)."""

    def __init__(self, child: pexpect.spawn[str]) -> None:
        self.child = child
        self.screen = pyte.Screen(COLUMNS, LINES)
        self.stream = pyte.Stream(self.screen)

    def text(self) -> str:
        """The screen now, line by line."""
        while True:
            try:
                self.stream.feed(self.child.read_nonblocking(65536, timeout=0.05))
            except (pexpect.TIMEOUT, pexpect.EOF):
                break
        return "\n".join(line.rstrip() for line in self.screen.display)

    def row(self, first: str) -> list[str] | None:
        """The cells of the screen's line that starts with ``first``, split on runs of spaces."""
        for line in self.text().splitlines():
            cells = line.split()
            if cells and cells[0] == first:
                return cells
        return None

    def shows(self, check: Callable[[str], bool], within: float = 15.0, what: str = "") -> str:
        """The screen once ``check`` holds for it."""

        def seen() -> str | None:
            screen = self.text()
            return screen if check(screen) else None

        try:
            return until(seen, within=within, what=what)
        except AssertionError as failed:
            raise AssertionError(f"{failed}; the screen:\n{self.text()}") from None


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The example stack, with a worker: the calls sent here run."""
    running = Stack(EXAMPLES, tmp_path_factory.mktemp("top"), env={"HTTP_ECHO_PORT": str(free_port())}, workers=1)
    try:
        yield running
    finally:
        running.close()


@pytest.fixture
def top(stack: Stack) -> Iterator[Terminal]:
    child = pexpect.spawn(
        FAASQ[0], [*FAASQ[1:], "top"], cwd=str(ROOT), dimensions=(LINES, COLUMNS),
        env={**TERMINAL_ENV, "OPENFAAS_URL": stack.url, "TERM": "xterm-256color"},
        encoding="utf-8", codec_errors="replace",
    )  # fmt: skip
    try:
        yield Terminal(child)
    finally:
        child.close(force=True)


def test_top_shows_the_functions_and_queues_and_follows_the_calls(top: Terminal, stack: Stack) -> None:
    top.shows(lambda s: "FUNCTION" in s and "QUEUE" in s, what="the tables")
    for name in ("echo", "hello", "wc"):
        assert top.row(name) is not None, top.text()
    header = top.row("FUNCTION")
    assert header is not None
    calls = header.index("CALLS")
    before = int((top.row("echo") or [])[calls].replace(",", ""))
    for n in range(4):
        answer = httpx.post(f"{stack.url}/async-function/echo", content=f"call {n}".encode(), timeout=10)
        assert answer.status_code == 202
    top.shows(lambda s: int((top.row("echo") or [])[calls].replace(",", "")) >= before + 4, what="4 more calls")
    assert top.row("default") is not None  # the queue


def test_keys_filter_and_sort_the_functions_and_q_quits(top: Terminal) -> None:
    top.shows(lambda s: "FUNCTION" in s and top.row("echo") is not None, what="the functions")
    top.child.send("/wc\r")
    screen = top.shows(lambda s: "filter: wc" in s and top.row("echo") is None, what="the filter")
    assert top.row("wc") is not None, screen
    top.child.send("\x1b")  # Esc clears it
    top.shows(lambda s: top.row("echo") is not None, what="the filter cleared")
    top.child.send("s")
    top.shows(lambda s: "sort: queued" in s, what="the next sort")
    top.child.send("q")
    top.child.expect(pexpect.EOF, timeout=10)
    top.child.close()
    assert top.child.exitstatus == 0


def test_top_without_a_terminal_prints_the_view_once(stack: Stack) -> None:
    result = stack.cli("top", "--once")
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert "FUNCTION" in out
    assert "echo" in out
    assert "QUEUE" in out


def test_ctrl_c_quits_and_gives_the_terminal_back(top: Terminal) -> None:
    top.shows(lambda s: "FUNCTION" in s, what="the tables")
    top.child.sendcontrol("c")
    top.child.expect(pexpect.EOF, timeout=10)
    rest = str(top.child.before)
    top.child.close()
    assert top.child.exitstatus == 130  # interrupted, as a shell reports it
    assert "\x1b[?1049l" in rest  # the alternate screen left: the shell's screen is back
    assert "Traceback" not in rest
