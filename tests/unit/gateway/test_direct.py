from __future__ import annotations

import pytest

from gateway.proxy import direct_url


@pytest.mark.parametrize(
    ("rest", "query", "suffix", "port", "expected"),
    [
        (b"", b"", "", 8080, "http://echo.openfaas-fn:8080/"),
        (b"/", b"", "svc.cluster.local", 8080, "http://echo.openfaas-fn.svc.cluster.local:8080/"),
        (b"/a%2Fb/c", b"x=1&y=%20", "", 9000, "http://echo.openfaas-fn:9000/a%2Fb/c?x=1&y=%20"),
        (b"", b"q=1", "svc", 8080, "http://echo.openfaas-fn.svc:8080/?q=1"),
    ],
)
def test_a_direct_url_names_the_function_and_namespace_and_keeps_path_and_query_encoded(
    rest: bytes, query: bytes, suffix: str, port: int, expected: str
) -> None:
    assert str(direct_url("echo", "openfaas-fn", rest, query, suffix=suffix, port=port)) == expected
