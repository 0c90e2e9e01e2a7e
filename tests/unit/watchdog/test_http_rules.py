import pytest

from watchdog.runners.http import is_local, proxied_headers


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", True),
        ("127.0.0.2", True),
        ("10.0.0.5", False),
        ("fn.example", False),
    ],
)
def test_which_upstream_hosts_are_this_machine(host: str, local: bool) -> None:
    assert is_local(host) is local


def test_proxied_headers_drop_hop_by_hop_and_lower_case_names() -> None:
    headers = [
        (b"Content-Type", b"text/plain"),
        (b"Connection", b"keep-alive"),
        (b"Keep-Alive", b"timeout=5"),
        (b"Transfer-Encoding", b"chunked"),
        (b"Host", b"fn"),
        (b"X-Call-Id", b"1"),
        (b"Upgrade", b"h2c"),
    ]
    assert proxied_headers(headers, drop=(b"host",)) == [(b"content-type", b"text/plain"), (b"x-call-id", b"1")]
