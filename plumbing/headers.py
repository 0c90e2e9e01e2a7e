"""Hop-by-hop headers (RFC 9110 §7.6.1): meaningful for one connection only, never relayed.

Standard library only: the watchdog imports this module and nothing else of faasq.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["HOP_BY_HOP", "as_sent", "connection_tokens", "end_to_end"]

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
"""The hop-by-hop header names, lowercase."""


def connection_tokens(headers: Iterable[tuple[bytes, bytes]]) -> frozenset[bytes]:
    """The header names a ``Connection`` header lists (lowercase): hop-by-hop for this request too."""
    listed = (value for key, value in headers if key.lower() == b"connection")
    return frozenset(token.strip().lower() for value in listed for token in value.split(b","))


def end_to_end(
    headers: Iterable[tuple[bytes, bytes]], dropped: frozenset[bytes] = frozenset()
) -> list[tuple[bytes, bytes]]:
    """The headers minus hop-by-hop ones, those ``Connection`` names and ``dropped`` (lowercase), order kept."""
    headers = list(headers)
    dropped = dropped | HOP_BY_HOP | connection_tokens(headers)
    return [(key, value) for key, value in headers if key.lower() not in dropped]


def as_sent(value: str) -> str:
    """A header value read as latin-1 (a character per byte), as the text aiohttp sends as the same bytes.

    ASGI servers give header bytes, which faasq reads as latin-1; aiohttp writes a header's text
    as UTF-8. A value beyond ASCII is nearly always UTF-8 (what clients send), so it is decoded as
    such, and goes out as it came in instead of encoded twice. Bytes that are not UTF-8 cannot
    go out as they are: those values are left as they were read.
    """
    if value.isascii():
        return value
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value
