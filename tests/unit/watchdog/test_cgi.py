import base64
import json

import pytest

from watchdog.cgi import canonical_header, cgi_env, content_length, marshal_request, response_content_type

BASE = {b"PATH": b"/usr/bin", b"Http_X_Stale": b"inherited"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [(b"content-type", "Content-Type"), (b"x-call-id", "X-Call-Id"), (b"x-b3-traceid", "X-B3-Traceid"), (b"A", "A")],
)
def test_canonical_header_follows_go(name: bytes, expected: str) -> None:
    assert canonical_header(name) == expected


def test_cgi_env_adds_openfaas_variables() -> None:
    headers = [
        (b"host", b"fn.local:8080"),
        (b"content-type", b"text/plain"),
        (b"content-length", b"5"),
        (b"x-stale", b"first"),
        (b"x-stale", b"second"),
    ]
    env = cgi_env(BASE, "POST", "/a/b", b"q=1&r=2", headers)
    assert env == {
        b"PATH": b"/usr/bin",
        b"Http_X_Stale": b"first",
        b"Http_Content_Type": b"text/plain",
        b"Http_Content_Length": b"5",
        b"Http_ContentLength": b"5",
        b"Http_Method": b"POST",
        b"Http_Path": b"/a/b",
        b"Http_Query": b"q=1&r=2",
        b"Http_Host": b"fn.local:8080",
    }


def test_cgi_env_chunked_request_has_length_minus_one() -> None:
    env = cgi_env({}, "PUT", "/", b"", [(b"transfer-encoding", b"chunked")])
    assert env == {
        b"Http_Method": b"PUT",
        b"Http_Path": b"/",
        b"Http_Content_Length": b"-1",
        b"Http_ContentLength": b"-1",
        b"Http_Transfer_Encoding": b"chunked",
    }


def test_cgi_env_leaves_base_untouched() -> None:
    base = dict(BASE)
    cgi_env(base, "GET", "/", b"", [(b"x-stale", b"new")])
    assert base == BASE


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([], 0),
        ([(b"content-length", b"42")], 42),
        ([(b"transfer-encoding", b"chunked")], -1),
        ([(b"content-length", b"nonsense")], -1),
    ],
)
def test_content_length(headers: list[tuple[bytes, bytes]], expected: int) -> None:
    assert content_length(headers) == expected


def test_marshal_request_matches_the_classic_watchdog() -> None:
    headers = [(b"host", b"h"), (b"accept", b"a"), (b"accept", b"b"), (b"content-type", b"text/plain")]
    document = json.loads(marshal_request(b"\x00hello", headers))
    assert document == {
        "header": {"Accept": ["a", "b"], "Content-Type": ["text/plain"]},
        "body": {"raw": base64.b64encode(b"\x00hello").decode()},
    }


def test_marshal_request_empty_body() -> None:
    assert marshal_request(b"", []) == b'{"header":{},"body":{"raw":""}}'


def test_response_content_type() -> None:
    headers = [(b"content-type", b"application/json")]
    assert response_content_type("text/html", headers) == b"text/html"
    assert response_content_type("", headers) == b"application/json"
    assert response_content_type("", []) is None
