"""The size of a call's NATS headers, as the gateway checks it against the limits: what nats-py would send."""

from __future__ import annotations

import re

import pytest

from calls.retry_settings import RetryOverrides
from calls.wire import QueuedCall
from plumbing.nats_client import header_block, message_size

_KEY = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def nats_py_block(headers: dict[str, str]) -> bytes:
    """nats-py 2.16's encoder, restated: name check, values stripped, CR/LF replaced."""
    block = bytearray(b"NATS/1.0\r\n")
    for key, value in headers.items():
        assert _KEY.fullmatch(key.strip())
        block += f"{key.strip()}: {value.strip().replace(chr(13), ' ').replace(chr(10), ' ')}\r\n".encode()
    return bytes(block + b"\r\n")


CALL = QueuedCall(
    call_id="c-1",
    function="echo",
    namespace="openfaas-fn",
    method="POST",
    path="/a%20b/ü",
    query="x=1&y=",
    callback_url="http://127.0.0.1:9000/cb",
    enqueued_at_ns=1_700_000_000_000_000_000,
    headers=[("content-type", "text/plain"), ("x-odd", 'quote " and \\ and é')],
    body=b"body",
)


RETRYING = QueuedCall(
    call_id="c-3", function="f", namespace="ns", retry=RetryOverrides(2, frozenset({503}), 0.001, 0.01, 5.0)
)


@pytest.mark.parametrize("call", [CALL, QueuedCall(call_id="c-2", function="f", namespace="ns"), RETRYING])
def test_the_block_is_what_nats_py_would_send(call: QueuedCall) -> None:
    headers = call.nats_headers()
    assert header_block(headers) == nats_py_block(headers)
    assert message_size(headers, call.body) == len(nats_py_block(headers)) + len(call.body)


def test_other_names_and_line_breaks_are_encoded_as_nats_py_does() -> None:
    broken = CALL.nats_headers() | {"Faasq-Path": "/a\r\nInjected: 1"}
    assert header_block(broken) == nats_py_block(broken)
    assert b"\r\nInjected" not in header_block(broken)  # no header of its own
    assert message_size({"X-Other": " é "}, b"12") == len(nats_py_block({"X-Other": " é "})) + 2
