"""Header values on their way through aiohttp."""

from __future__ import annotations

import pytest

from plumbing.headers import as_sent


@pytest.mark.parametrize(
    ("read", "sent"),
    [
        ("plain ascii", "plain ascii"),
        ("ü ✓".encode().decode("latin-1"), "ü ✓"),  # UTF-8 bytes, read a character per byte
        ("\xff\xfe", "\xff\xfe"),  # not UTF-8: left as read
        ("already ✓ text", "already ✓ text"),  # not from bytes at all
    ],
)
def test_a_header_value_read_as_latin_1_goes_out_as_the_bytes_it_came_as(read: str, sent: str) -> None:
    assert as_sent(read) == sent
