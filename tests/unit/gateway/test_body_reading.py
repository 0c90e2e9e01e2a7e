"""An async call's body is read whole: in memory, or once it cannot fit a message, into a temporary file."""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterable
from typing import BinaryIO

import pytest
from starlette.types import Message, Receive

from gateway.enqueue import _read_body
from gateway.errors import BodyTooLarge


def arriving(chunks: Iterable[bytes], *, gone: bool = False) -> Receive:
    """An ASGI ``receive`` that hands out ``chunks`` (then a disconnect, if ``gone``)."""
    messages: list[Message] = [{"type": "http.request", "body": chunk, "more_body": True} for chunk in chunks]
    if gone:
        messages.append({"type": "http.disconnect"})
    else:
        messages[-1]["more_body"] = False

    async def receive() -> Message:
        return messages.pop(0)

    return receive


@pytest.mark.parametrize("chunks", [[b"one chunk"], [b"in ", b"three ", b"chunks"], [b""]])
async def test_a_body_that_fits_a_message_is_read_into_memory(chunks: list[bytes]) -> None:
    assert await _read_body(arriving(chunks), limit=100, spill=20) == b"".join(chunks)


@pytest.mark.parametrize("chunks", [[b"x" * 30], [b"a" * 10, b"b" * 10, b"c" * 10], [b"a" * 25, b"b"]])
async def test_a_body_over_the_message_limit_is_written_to_a_file_as_it_arrives(chunks: list[bytes]) -> None:
    body = await _read_body(arriving(chunks), limit=100, spill=20)
    assert isinstance(body, io.IOBase)
    with body:
        assert body.read() == b"".join(chunks)


async def test_a_body_over_the_limit_is_refused_and_a_caller_that_goes_away_leaves_nothing_open(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    opened: list[BinaryIO] = []
    make = tempfile.TemporaryFile

    def temporary_file() -> BinaryIO:
        opened.append(make())  # closed by the code under test
        return opened[-1]

    monkeypatch.setattr(tempfile, "TemporaryFile", temporary_file)
    with pytest.raises(BodyTooLarge, match="over the limit of 100 bytes"):
        await _read_body(arriving([b"x" * 60, b"y" * 60]), limit=100, spill=20)
    assert await _read_body(arriving([b"x" * 60], gone=True), limit=100, spill=20) is None
    assert [file.closed for file in opened] == [True, True]
