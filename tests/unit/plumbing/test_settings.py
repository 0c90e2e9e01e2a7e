from __future__ import annotations

import pytest

from plumbing.settings import base_url


@pytest.mark.parametrize(
    ("value", "expected"),
    [("http://127.0.0.1:8080/", "http://127.0.0.1:8080"), ("https://gw.example/base/", "https://gw.example/base")],
)
def test_a_base_url_loses_its_trailing_slash(value: str, expected: str) -> None:
    assert base_url(value) == expected


@pytest.mark.parametrize("value", ["127.0.0.1:8080", "ftp://host/", "http://", "", "nats://127.0.0.1:4222"])
def test_anything_else_is_refused_with_the_expected_form(value: str) -> None:
    with pytest.raises(ValueError, match=r"^expected an http\(s\) URL such as http://127\.0\.0\.1:8081/, got "):
        base_url(value, "http://127.0.0.1:8081/")
