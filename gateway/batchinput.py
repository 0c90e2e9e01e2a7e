"""A batch's body, read as it streams in: split into items, each checked, spooled to a temporary file.

A JSON array (``application/json``, the default), one JSON value a line
(``application/x-ndjson``) or one item a line (``text/plain``, ``text/csv``). The splitters
are pure (``feed`` bytes, get items) and keep at most one item's worth of text; the spool
keeps the items in memory up to a few megabytes, then in a temporary file.
"""

from __future__ import annotations

import codecs
import json
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import IO, Protocol

from gateway.errors import BodyTooLarge, InvalidRequest, UnsupportedFormat

__all__ = [
    "BatchFormat",
    "ItemLimits",
    "JsonArraySplitter",
    "LineSplitter",
    "Splitter",
    "Spool",
    "format_of",
    "splitter_for",
]

_FRAME = struct.Struct(">I")
_SPOOL_IN_MEMORY = 8 * 1024 * 1024
# A JSON error this close to the end of the text read so far may be the end of a chunk, not of the item.
_NEAR_END = 8


class BatchFormat(StrEnum):
    """How a batch's body is split into items."""

    JSON = "json"
    """One JSON array: each element is an item."""
    NDJSON = "ndjson"
    """One JSON value a line."""
    LINES = "lines"
    """One item a line, as bytes."""

    @property
    def item_content_type(self) -> str:
        """The ``Content-Type`` each item is sent to the function with."""
        return "text/plain" if self is BatchFormat.LINES else "application/json"


_FORMATS = {
    "application/json": BatchFormat.JSON,
    "application/x-ndjson": BatchFormat.NDJSON,
    "application/ndjson": BatchFormat.NDJSON,
    "application/jsonl": BatchFormat.NDJSON,
    "application/json-seq": BatchFormat.NDJSON,
    "text/plain": BatchFormat.LINES,
    "text/csv": BatchFormat.LINES,
}


def format_of(content_type: str | None) -> BatchFormat:
    """The batch format a ``Content-Type`` names.

    Raises:
        UnsupportedFormat: it names none of them.
    """
    media = (content_type or "application/json").partition(";")[0].strip().lower()
    if media not in _FORMATS:
        raise UnsupportedFormat(
            f"unsupported batch Content-Type {media!r}: use application/json (an array), "
            "application/x-ndjson (one JSON value a line) or text/plain (one item a line)"
        )
    return _FORMATS[media]


@dataclass(frozen=True, slots=True)
class ItemLimits:
    """Bounds of one batch.

    Attributes:
        max_item_bytes: the largest item (413 beyond, naming the item).
        max_items: the most items (413 beyond).
    """

    max_item_bytes: int
    max_items: int


class Splitter(Protocol):
    """Turns a body, fed in chunks, into items."""

    def feed(self, chunk: bytes) -> list[bytes]:
        """The items that ``chunk`` completes.

        Raises:
            InvalidRequest: an item is not valid (its index in the message).
            BodyTooLarge: an item is over the limit.
        """

    def finish(self) -> list[bytes]:
        """The items left at the end of the body.

        Raises:
            InvalidRequest: the body ended in the middle of an item or of the array.
        """


def _too_large(index: int, size: int, limit: int) -> BodyTooLarge:
    return BodyTooLarge(f"item {index} is {size} bytes or more, over the limit of {limit} bytes per item")


class LineSplitter:
    """Items one a line (an optional CR before each LF); each a JSON value if ``json_items`` is set."""

    def __init__(self, limits: ItemLimits, *, json_items: bool) -> None:
        self._limit = limits.max_item_bytes
        self._json = json_items
        self._partial = b""
        self._index = 0
        self._line = 0

    def feed(self, chunk: bytes) -> list[bytes]:
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        if len(self._partial) > self._limit + 1:
            raise _too_large(self._index + sum(1 for line in lines if line.strip()), len(self._partial), self._limit)
        return [item for line in lines if (item := self._item(line)) is not None]

    def finish(self) -> list[bytes]:
        last, self._partial = self._partial, b""
        item = self._item(last)
        return [item] if item is not None else []

    def _item(self, line: bytes) -> bytes | None:
        self._line += 1
        item = line.removesuffix(b"\r")
        if not item.strip():
            return None
        if len(item) > self._limit:
            raise _too_large(self._index, len(item), self._limit)
        if self._json:
            try:
                json.loads(item)
            except json.JSONDecodeError as exc:
                raise InvalidRequest(f"item {self._index} (line {self._line}): invalid JSON: {exc}") from None
            except ValueError as exc:  # not UTF-8
                raise InvalidRequest(f"item {self._index} (line {self._line}): invalid JSON: {exc}") from None
        self._index += 1
        return item


class JsonArraySplitter:
    """The elements of one JSON array, as their JSON text, checked by the standard library's decoder."""

    def __init__(self, limits: ItemLimits) -> None:
        self._limit = limits.max_item_bytes
        self._decoder = json.JSONDecoder()
        self._text = codecs.getincrementaldecoder("utf-8")()
        self._buffer = ""
        self._pos = 0
        self._expect = "["  # then "value" (or "]"), then "," or "]", then "end"
        self._index = 0

    def feed(self, chunk: bytes) -> list[bytes]:
        try:
            self._buffer = self._buffer[self._pos :] + self._text.decode(chunk)
        except UnicodeDecodeError as exc:
            raise InvalidRequest(f"item {self._index}: the body is not UTF-8: {exc}") from None
        self._pos = 0
        return self._split(final=False)

    def finish(self) -> list[bytes]:
        items = self._split(final=True)
        if self._expect != "end":
            raise InvalidRequest(f"item {self._index}: the body ended before the JSON array did")
        return items

    def _split(self, *, final: bool) -> list[bytes]:
        items: list[bytes] = []
        while self._skip_space() < len(self._buffer):
            char = self._buffer[self._pos]
            if self._expect == "[":
                self._structural(char, "[", "first")
            elif self._expect in ("first", "value") and not (self._expect == "first" and char == "]"):
                item = self._value(final=final)
                if item is None:
                    break
                items.append(item)
            elif self._expect in ("first", ","):
                self._pos += 1
                self._expect = "value" if char == "," else "end"
                if char not in ",]":
                    raise InvalidRequest(f"item {self._index}: invalid JSON: expected ',' or ']' after item")
            else:
                raise InvalidRequest(f"invalid JSON: data after the end of the array, at item {self._index}")
        return items

    def _skip_space(self) -> int:
        buffer, pos = self._buffer, self._pos
        while pos < len(buffer) and buffer[pos] in " \t\r\n":
            pos += 1
        self._pos = pos
        return pos

    def _structural(self, char: str, wanted: str, then: str) -> None:
        if char != wanted:
            raise InvalidRequest(f"invalid JSON: a batch in application/json is an array; found {char!r}")
        self._pos += 1
        self._expect = then

    def _value(self, *, final: bool) -> bytes | None:
        start = self._pos
        try:
            _, end = self._decoder.raw_decode(self._buffer, start)
        except json.JSONDecodeError as exc:
            incomplete = exc.pos >= len(self._buffer) - _NEAR_END or exc.msg.startswith("Unterminated string")
            if final or not incomplete:
                raise InvalidRequest(f"item {self._index}: invalid JSON: {exc.msg}") from None
            if len(self._buffer) - start > self._limit:
                raise _too_large(self._index, len(self._buffer) - start, self._limit) from None
            return None
        if not final and _may_go_on(self._buffer, start, end):
            return None  # a number or literal may go on in the next chunk
        item = self._buffer[start:end].encode()
        if len(item) > self._limit:
            raise _too_large(self._index, len(item), self._limit)
        self._pos = end
        self._expect = ","
        self._index += 1
        return item


_NUMBER_TAIL = frozenset("0123456789.eE+-")


def _may_go_on(buffer: str, start: int, end: int) -> bool:
    """Whether the value read from ``buffer[start:end]`` may be the start of a longer one, in a chunk still to come.

    A value at the end of what has arrived may: ``1`` of ``12``, ``tru`` never parses. So may a number
    followed only by what could go on with it: the decoder reads ``-0`` of ``-0.`` and ``1`` of ``1e``.
    """
    if end == len(buffer):
        return True
    return buffer[start] in "-0123456789" and all(char in _NUMBER_TAIL for char in buffer[end:])


def splitter_for(batch_format: BatchFormat, limits: ItemLimits) -> Splitter:
    """A fresh splitter for a body in ``batch_format``."""
    if batch_format is BatchFormat.JSON:
        return JsonArraySplitter(limits)
    return LineSplitter(limits, json_items=batch_format is BatchFormat.NDJSON)


class Spool:
    """Items kept aside until the whole batch is checked: length-prefixed, in memory, then on disk when large.

    Use it as a context manager; the file is deleted on exit.
    """

    def __init__(self, max_items: int) -> None:
        self._file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115 - closed by __exit__
        self._max = max_items
        self.count = 0

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *_: object) -> None:
        self._file.close()

    def add(self, items: list[bytes]) -> None:
        """Keep ``items``.

        Raises:
            BodyTooLarge: the batch now has more than ``max_items`` items.
        """
        if self.count + len(items) > self._max:
            raise BodyTooLarge(f"the batch has more than {self._max} items, the most one batch may have")
        self._file.write(b"".join(_FRAME.pack(len(item)) + item for item in items))
        self.count += len(items)

    def items(self) -> Iterator[bytes]:
        """Every item kept, in order."""
        self._file.seek(0)
        for _ in range(self.count):
            (size,) = _FRAME.unpack(self._file.read(_FRAME.size))
            yield self._file.read(size)
