import pytest

from watchdog.runners.http import next_delay, proxied_headers


@pytest.mark.parametrize(
    ("previous", "uptime", "expected"),
    [
        (None, 0.0, 0.1),  # first restart
        (0.1, 0.5, 0.2),  # died young again: back off
        (3.2, 1.0, 5.0),  # capped
        (5.0, 1.0, 5.0),
        (5.0, 10.0, 0.1),  # ran a while: start over
    ],
)
def test_next_delay(previous: float | None, uptime: float, expected: float) -> None:
    assert next_delay(previous, uptime) == expected


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
