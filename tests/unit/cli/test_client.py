"""The gateway URL is chosen in faas-cli's order, and transport failures become one clear line."""

import httpx
import pytest

from faasq.client import DEFAULT_GATEWAY, Gateway, decode, resolve_gateway
from faasq.errors import GatewayError, GatewayUnreachable
from provider.types import FunctionStatus


@pytest.mark.parametrize(
    ("flag", "stack", "env", "expected"),
    [
        ("http://flag:1", "http://stack:2", "http://env:3", "http://flag:1"),
        (None, "http://stack:2", "http://env:3", "http://stack:2"),
        (None, None, "http://env:3", "http://env:3"),
        (None, "", "http://env:3", "http://env:3"),
        (None, None, None, DEFAULT_GATEWAY),
        (None, None, "", DEFAULT_GATEWAY),
        ("gw.example.com:8080/", None, None, "http://gw.example.com:8080"),
        ("https://gw.example.com//", None, None, "https://gw.example.com"),
    ],
)
def test_resolve_gateway(flag: str | None, stack: str | None, env: str | None, expected: str) -> None:
    assert resolve_gateway(flag, stack, env) == expected


def failing(error: Exception) -> Gateway:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error

    return Gateway("http://127.0.0.1:9", transport=httpx.MockTransport(handler))


def test_connection_refused_says_how_to_start_faasq() -> None:
    with pytest.raises(GatewayUnreachable) as raised:
        failing(httpx.ConnectError("refused")).request("GET", "/system/functions")
    assert str(raised.value) == (
        "cannot connect to http://127.0.0.1:9: is faasq running? (start it with `make up` or `faasq up`)"
    )


def test_timeout_and_other_transport_errors() -> None:
    with pytest.raises(GatewayUnreachable, match=r"^http://127.0.0.1:9 did not answer in time$"):
        failing(httpx.ReadTimeout("slow")).request("GET", "/")
    with pytest.raises(GatewayUnreachable, match=r"^error talking to http://127.0.0.1:9: broken$"):
        failing(httpx.RemoteProtocolError("broken")).request("GET", "/")


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(500, text="boom\n"), "500 Internal Server Error: boom"),
        (httpx.Response(404), "404 Not Found"),
        (httpx.Response(409, json={"detail": "secret 'a' already exists"}), "409 Conflict: secret 'a' already exists"),
        (httpx.Response(400, json={"other": 1}), '400 Bad Request: {"other":1}'),
    ],
)
def test_error_statuses_carry_the_server_message(response: httpx.Response, message: str) -> None:
    gateway = Gateway("http://gw", transport=httpx.MockTransport(lambda request: response))
    with pytest.raises(GatewayError) as raised:
        gateway.request("GET", "/x")
    assert (str(raised.value), raised.value.status) == (message, response.status_code)


def test_stream_raises_on_error_status_with_message() -> None:
    gateway = Gateway("http://gw", transport=httpx.MockTransport(lambda request: httpx.Response(501, text="no logs")))
    with pytest.raises(GatewayError, match=r"^501 Not Implemented: no logs$"), gateway.stream("GET", "/system/logs"):
        pass


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>proxy error</html>", "unexpected answer from http://gw/system/functions: Invalid JSON: "),
        (b'[{"image": "x"}]', "unexpected answer from http://gw/system/functions: 0.name: Field required"),
        (b"{}", "unexpected answer from http://gw/system/functions: Input should be a valid array"),
    ],
)
def test_decode_rejects_unexpected_bodies_in_one_line(body: bytes, message: str) -> None:
    gateway = Gateway("http://gw", transport=httpx.MockTransport(lambda request: httpx.Response(200, content=body)))
    response = gateway.request("GET", "/system/functions")
    with pytest.raises(GatewayError) as raised:
        decode(response, list[FunctionStatus])
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_decode_returns_the_shape() -> None:
    gateway = Gateway("http://gw", transport=httpx.MockTransport(lambda request: httpx.Response(200, json=["a"])))
    assert decode(gateway.request("GET", "/system/namespaces"), list[str]) == ["a"]
