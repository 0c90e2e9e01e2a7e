"""What a forked function sees of a request: CGI-style environment variables and marshalled stdin.

Pure functions of the ASGI scope; the runners do the I/O around them.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping

__all__ = ["Headers", "canonical_header", "cgi_env", "content_length", "marshal_request", "response_content_type"]

Headers = Iterable[tuple[bytes, bytes]]

# Go's net/http moves these out of Request.Header; OpenFaaS adds them as their own variables.
_NOT_IN_HEADER_MAP = frozenset({b"host", b"transfer-encoding"})


def canonical_header(name: bytes) -> str:
    """Go's canonical header key: ``x-call-id`` becomes ``X-Call-Id``, as OpenFaaS names its variables."""
    return "-".join(part.capitalize() for part in name.decode("latin-1").split("-"))


def _header_map(headers: Headers) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name, value in headers:
        if name not in _NOT_IN_HEADER_MAP:
            grouped.setdefault(canonical_header(name), []).append(value.decode("latin-1"))
    return grouped


def _first(headers: Headers, wanted: bytes) -> str | None:
    for name, value in headers:
        if name == wanted:
            return value.decode("latin-1")
    return None


def content_length(headers: Headers) -> int:
    """The request's length as Go reports it: -1 when chunked or unparsable, 0 when absent."""
    if _first(headers, b"transfer-encoding") is not None:
        return -1
    declared = _first(headers, b"content-length")
    if declared is None:
        return 0
    return int(declared) if declared.isdigit() else -1


def _env_name(name: bytes) -> bytes:
    return b"Http_" + canonical_header(name).replace("-", "_").encode("latin-1")


def cgi_env(base: Mapping[bytes, bytes], method: str, path: str, query: bytes, headers: Headers) -> dict[bytes, bytes]:
    """``base`` plus OpenFaaS's ``Http_*`` variables for one request, as bytes ready for exec.

    Header ``A-B`` becomes ``Http_A_B`` with its first value; then ``Http_Method``,
    ``Http_ContentLength`` and ``Http_Content_Length`` (-1 when chunked), ``Http_Transfer_Encoding``,
    ``Http_Query`` and ``Http_Path`` when present, and ``Http_Host``.
    """
    headers = list(headers)
    added: dict[bytes, bytes] = {}
    for name, value in headers:
        if name not in _NOT_IN_HEADER_MAP:
            added.setdefault(_env_name(name), value)  # the first value wins, as in OpenFaaS
    env = {**base, **added}
    env[b"Http_Method"] = method.encode("latin-1")
    length = str(content_length(headers)).encode()
    env[b"Http_ContentLength"] = length  # OpenFaaS: deprecated spelling, still set
    env[b"Http_Content_Length"] = length
    if (encoding := _first(headers, b"transfer-encoding")) is not None:
        env[b"Http_Transfer_Encoding"] = encoding.encode("latin-1")
    if query:
        env[b"Http_Query"] = query
    if path:
        env[b"Http_Path"] = path.encode()
    if (host := _first(headers, b"host")) is not None:
        env[b"Http_Host"] = host.encode("latin-1")
    return env


def marshal_request(body: bytes, headers: Headers) -> bytes:
    """The classic watchdog's ``marshal_request`` stdin: ``{"header": {...}, "body": {"raw": "<base64>"}}``.

    Header values are lists, as Go's ``http.Header`` marshals them.
    """
    document = {"header": _header_map(headers), "body": {"raw": base64.b64encode(body).decode("ascii")}}
    return json.dumps(document, separators=(",", ":")).encode()


def response_content_type(configured: str, headers: Headers) -> bytes | None:
    """The response's Content-Type: the ``content_type`` setting, else the request's, else none."""
    if configured:
        return configured.encode("latin-1")
    requested = _first(headers, b"content-type")
    return None if requested is None else requested.encode("latin-1")
