"""The pure checks of an async call's request line and headers."""

from __future__ import annotations

import uuid

import pytest

from gateway.errors import BodyTooLarge, InvalidRequest
from gateway.validation import call_id_of, callback_url_of, check_length, function_of


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9000/cb",
        "https://example.com",
        "http://h/cb?x=1&y=2#frag",
        "http://[::1]:8080/",
        "HTTP://Example.com/x",
    ],
)
def test_good_callback_urls_are_kept(url: str) -> None:
    assert callback_url_of(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "",
        "/relative/path",
        "example.com/cb",
        "ftp://example.com/cb",
        "http://",
        "http:///path",
        "http://h:notaport/",
        "http://h:99999/",
        "javascript:alert(1)",
        "http://exämple.com/",
        "http://h/a b",
        "http://h/\tx",
    ],
)
def test_bad_callback_urls_are_400(url: str) -> None:
    with pytest.raises(InvalidRequest, match="invalid X-Callback-Url"):
        callback_url_of(url)


def test_no_callback_url_is_none() -> None:
    assert callback_url_of(None) is None


def test_a_missing_call_id_is_a_new_uuid4() -> None:
    first, second = call_id_of(None), call_id_of(None)
    assert first != second
    assert uuid.UUID(first).version == 4


@pytest.mark.parametrize(
    "given", ["abc", "A1", "order-42:retry.1_x", "0" * 128, "6f1c1f4e-7d9e-4c55-9e8e-2b7c3f0b9a11"]
)
def test_a_good_client_call_id_is_kept(given: str) -> None:
    assert call_id_of(given) == given


@pytest.mark.parametrize("given", ["", "-leading", "a b", "a/b", "x" * 129, "é", "a\r\nb", "a*"])
def test_a_bad_client_call_id_is_400(given: str) -> None:
    with pytest.raises(InvalidRequest, match="invalid X-Call-Id"):
        call_id_of(given)


def test_a_refused_value_is_quoted_as_the_client_wrote_it() -> None:
    # The server gives header bytes, read one character per byte: UTF-8 is shown as the text it is.
    with pytest.raises(InvalidRequest, match=r"^invalid X-Call-Id 'é bad': "):
        call_id_of("é bad".encode().decode("latin-1"))
    with pytest.raises(InvalidRequest, match=r"^invalid X-Callback-Url 'http://é'"):
        callback_url_of("http://é".encode().decode("latin-1"))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("echo", ("echo", "openfaas-fn")),
        ("echo.staging", ("echo", "staging")),
        ("under_score-9", ("under_score-9", "openfaas-fn")),
    ],
)
def test_function_names_select_a_namespace(name: str, expected: tuple[str, str]) -> None:
    assert function_of(name, "openfaas-fn") == expected


@pytest.mark.parametrize("name", ["", ".", "..", "a.", ".a", "a.b.c", "a b", "a/b", "ä", "a%2e"])
def test_bad_function_names_are_400(name: str) -> None:
    with pytest.raises(InvalidRequest, match="invalid function name"):
        function_of(name, "openfaas-fn")


@pytest.mark.parametrize("declared", [None, "0", "100", " 100 ", "chunked?"])
def test_lengths_within_the_limit_pass(declared: str | None) -> None:
    check_length(declared, 100)


def test_a_declared_length_over_the_limit_is_413() -> None:
    with pytest.raises(BodyTooLarge, match="request body of 101 bytes is over the limit of 100 bytes"):
        check_length("101", 100)
