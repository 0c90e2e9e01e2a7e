"""``faasq batch``'s pure parts: the body's format and the progress line."""

from __future__ import annotations

import pytest

from faasq.batch import content_type_of, progress_line


@pytest.mark.parametrize(
    ("path", "first", "lines", "expected"),
    [
        ("items.json", b"", False, "application/json"),
        ("items.ndjson", b"[1]", False, "application/x-ndjson"),
        ("items.jsonl", b"", False, "application/x-ndjson"),
        ("rows.csv", b"[", False, "text/plain"),
        ("items.json", b"[", True, "text/plain"),
        ("-", b"  [1, 2]", False, "application/json"),
        ("-", b'{"a": 1}\n', False, "application/x-ndjson"),
    ],
)
def test_the_format_comes_from_the_flag_the_suffix_or_the_first_byte(
    path: str, first: bytes, lines: bool, expected: str
) -> None:
    assert content_type_of(path, first, lines=lines) == expected


def test_the_progress_line_shows_done_counts_and_rate() -> None:
    batch = {
        "batch_id": "b", "total": 10, "done": 4, "progress": 0.4,
        "counts": {"queued": 5, "running": 1, "succeeded": 3, "failed": 1, "dead": 0},
    }  # fmt: skip
    assert progress_line(batch, 12.4) == "b: 4/10 done (40.0%) | succeeded 3, failed 1, running 1, queued 5 | 12/s"
    assert progress_line({"batch_id": "b"}, None) == "b: 0/0 done (0.0%)"
