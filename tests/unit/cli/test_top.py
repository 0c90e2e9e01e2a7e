"""``faasq top``'s view: the keys that sort, filter and quit, and what it draws."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from faasq.top import SORTS, TopView


def function(name: str, queued: int = 0, running: int = 0, dead: int = 0) -> dict[str, Any]:
    return {
        "name": name, "namespace": "fn", "deployed": True, "replicas": 1, "availableReplicas": 1, "invocations": 3,
        "rate": 0.5, "errorRate": None, "queued": queued, "inFlight": running, "deadLetters": dead,
        "waitP50": 0.004, "waitP99": 1.5,
    }  # fmt: skip


OVERVIEW = {
    "functions": [function("echo", queued=2), function("wc", queued=9, dead=1), function("hello", queued=5)],
    "queues": [{"name": "default", "pending": 16, "inFlight": 0, "throughput": 1.25, "oldestWaitingSeconds": 61.0}],
}


def screen(view: TopView) -> list[str]:
    console = Console(width=140, record=True, color_system=None)
    console.print(view.render(OVERVIEW, "http://gw", None))
    return console.export_text().splitlines()


def names(view: TopView) -> list[str]:
    lines = screen(view)
    start = next(i for i, line in enumerate(lines) if "FUNCTION" in line) + 1
    end = next(i for i, line in enumerate(lines) if line.startswith("Queues"))
    return [line.split()[0] for line in lines[start:end] if line.strip()]


def test_functions_are_sorted_by_name_then_by_each_column_in_turn_and_reversed() -> None:
    view = TopView()
    assert names(view) == ["echo", "hello", "wc"]
    view.key("s")
    assert view.sort == SORTS[1] == "queued"
    assert names(view) == ["wc", "hello", "echo"]  # most queued first
    view.key("r")
    assert names(view) == ["echo", "hello", "wc"]


def test_slash_types_a_filter_enter_keeps_it_and_escape_clears_it() -> None:
    view = TopView()
    for key in "/wx\x7fc\r":
        view.key(key)
    assert (view.filter, view.editing) == ("wc", False)
    assert names(view) == ["wc"]
    view.key("q")  # not typed into a filter any more: it quits
    assert view.done
    view = TopView(filter="e")
    view.key("\x1b")
    assert view.filter == ""


def test_the_screen_shows_numbers_as_a_person_reads_them() -> None:
    lines = "\n".join(screen(TopView()))
    assert "4 ms" in lines
    assert "1.5 s" in lines
    assert "61.0 s" in lines  # the oldest waiting call
    assert "s sort  r reverse  / filter  q quit" in lines
