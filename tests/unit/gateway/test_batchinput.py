"""Splitting a batch's body into items, fed in chunks of any size."""

from __future__ import annotations

import pytest

from gateway.batchinput import BatchFormat, ItemLimits, Spool, format_of, splitter_for
from gateway.errors import BodyTooLarge, InvalidRequest, UnsupportedFormat

LIMITS = ItemLimits(max_item_bytes=40, max_items=10)


def split(body: bytes, chunk: int, batch_format: BatchFormat = BatchFormat.JSON) -> list[bytes]:
    splitter = splitter_for(batch_format, LIMITS)
    items: list[bytes] = []
    for start in range(0, len(body), chunk):
        items += splitter.feed(body[start : start + chunk])
    return items + splitter.finish()


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 1000])
def test_a_json_array_splits_into_its_elements_as_written_whatever_the_chunks(chunk: int) -> None:
    body = ' [ 1, "a,]b\\"", {"x": [1, 2]}, 12345, true , null, "é" ] \n'.encode()
    assert split(body, chunk) == [b"1", b'"a,]b\\""', b'{"x": [1, 2]}', b"12345", b"true", b"null", '"é"'.encode()]


@pytest.mark.parametrize("cut", range(1, 24))
def test_a_number_cut_by_a_chunk_at_its_point_or_exponent_is_read_whole(cut: int) -> None:
    body = b"[-0.0, 12.5e-3, 1E+2, 7]"
    splitter = splitter_for(BatchFormat.JSON, LIMITS)
    items = splitter.feed(body[:cut]) + splitter.feed(body[cut:]) + splitter.finish()
    assert items == [b"-0.0", b"12.5e-3", b"1E+2", b"7"]


@pytest.mark.parametrize("chunk", [1, 4, 1000])
def test_lines_and_ndjson_skip_blank_lines_and_carriage_returns(chunk: int) -> None:
    assert split(b'{"a":1}\r\n\n2\n"x"', chunk, BatchFormat.NDJSON) == [b'{"a":1}', b"2", b'"x"']
    assert split(b"a,b\r\n  \nc,d", chunk, BatchFormat.LINES) == [b"a,b", b"c,d"]


@pytest.mark.parametrize(
    ("body", "batch_format", "error", "message"),
    [
        (b"[1,,2]", BatchFormat.JSON, InvalidRequest, "item 1: invalid JSON: Expecting value"),
        (b"[1 2]", BatchFormat.JSON, InvalidRequest, "item 1: invalid JSON: expected ',' or ']'"),
        (b'{"a": 1}', BatchFormat.JSON, InvalidRequest, "is an array; found '{'"),
        (b"[1, 2", BatchFormat.JSON, InvalidRequest, "item 2: the body ended before the JSON array did"),
        (b'[1, "abc', BatchFormat.JSON, InvalidRequest, "item 1: invalid JSON: Unterminated string"),
        (b"[1] 2", BatchFormat.JSON, InvalidRequest, "data after the end of the array, at item 1"),
        (b"[\xff]", BatchFormat.JSON, InvalidRequest, "item 0: the body is not UTF-8"),
        (b'[1, "' + b"x" * 60 + b'"]', BatchFormat.JSON, BodyTooLarge, "item 1 is 4"),
        (b"[" + b"1," * 10 + b"1]", BatchFormat.JSON, BodyTooLarge, "more than 10 items"),
        (b"1\n{bad\n", BatchFormat.NDJSON, InvalidRequest, "item 1 (line 2): invalid JSON"),
        (b"1\n\xff\n", BatchFormat.NDJSON, InvalidRequest, "item 1 (line 2): invalid JSON"),
        (b"1\n" + b"x" * 50 + b"\n", BatchFormat.LINES, BodyTooLarge, "item 1 is 4"),
        (b"1\n" + b"x" * 50, BatchFormat.LINES, BodyTooLarge, "item 1 is"),
    ],
)
def test_a_bad_body_names_the_item(
    body: bytes, batch_format: BatchFormat, error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as raised:
        spooled(body, batch_format)
    assert message in str(raised.value)


def spooled(body: bytes, batch_format: BatchFormat) -> int:
    with Spool(LIMITS.max_items) as spool:
        splitter = splitter_for(batch_format, LIMITS)
        for start in range(0, len(body), 3):
            spool.add(splitter.feed(body[start : start + 3]))
        spool.add(splitter.finish())
        return spool.count


def test_a_large_item_in_one_chunk_is_too_large() -> None:
    with pytest.raises(BodyTooLarge, match="item 0 is 62 bytes"):
        split(b'["' + b"y" * 60 + b'"]', 1000)


def test_the_spool_gives_back_every_item_in_order() -> None:
    with Spool(5) as spool:
        spool.add([b"a", b""])
        spool.add([b"ccc"])
        assert (spool.count, list(spool.items())) == (3, [b"a", b"", b"ccc"])


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        (None, BatchFormat.JSON),
        ("application/json; charset=utf-8", BatchFormat.JSON),
        ("application/x-ndjson", BatchFormat.NDJSON),
        ("Application/JSONL", BatchFormat.NDJSON),
        ("text/csv", BatchFormat.LINES),
    ],
)
def test_the_content_type_chooses_the_format(content_type: str | None, expected: BatchFormat) -> None:
    assert format_of(content_type) is expected
    assert expected.item_content_type == ("text/plain" if expected is BatchFormat.LINES else "application/json")


def test_another_content_type_is_unsupported() -> None:
    with pytest.raises(UnsupportedFormat, match="'application/xml'"):
        format_of("application/xml")
