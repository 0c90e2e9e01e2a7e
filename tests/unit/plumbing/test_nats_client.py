"""faasq's NATS client: the same headers, answers and errors as nats-py's, for less."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import APIError

from calls.wire import QueuedCall
from plumbing.nats_client import JetStream, NatsClient

CALL = QueuedCall("id-1", "fn", "ns", callback_url="http://h/cb", headers=[("x-a", "é ü"), ("b", "c:d")])


@pytest.mark.parametrize(
    "raw",
    [
        "".join(f"{k}: {v}\r\n" for k, v in CALL.nats_headers().items()).encode() + b"\r\n",
        b"A:1\r\nB:\t2 \r\nno colon\r\nbad name: x\r\n\xc3\xa9: y\r\nC: \xff\r\nD: e: f\r\n\r\n",
        b"E: \xc2\xa0nbsp\xc2\xa0\r\nF\x1c: x\r\nG: \x1cy\x1c\r\n H : \xe2\x80\r\nI: \xe2\r\n\xff\xfe: z\r\n\r\n",
        b"",
    ],
)
def test_the_fast_header_parser_agrees_with_nats_pys(raw: bytes) -> None:
    assert NatsClient._parse_header_lines(raw) == Client._parse_header_lines(raw)


@pytest.mark.parametrize(
    "headers",
    [
        CALL.nats_headers(),
        {" A ": " 1 ", "B": "two\r\nlines\n", "": "skipped", "é-ok": "x"},
        {"Nats-Expected-Last-Subject-Sequence": "0"},
        None,
    ],
)
async def test_the_fast_header_encoder_agrees_with_nats_pys(
    headers: dict[str, str] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: dict[str, bytes] = {}

    async def publish(client: Client, name: str) -> None:
        async def capture(command: bytes, priority: bool = False) -> None:
            sent[name] = command

        monkeypatch.setattr(client, "_send_command", capture)
        try:
            await client._send_publish("subject", "reply", b"body", 4, None if headers is None else dict(headers))
        except Exception as exc:
            sent[name] = repr(exc).encode()

    await publish(Client(), "nats-py")
    await publish(NatsClient(), "fast")
    assert sent["fast"] == sent["nats-py"]


class _Answering:
    """A connection whose every request is answered ``data``."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    async def request(self, subject: str, payload: bytes, timeout: float, headers: Any) -> Any:  # noqa: ASYNC109
        return SimpleNamespace(data=self.data, headers=None)


@pytest.mark.parametrize(
    "answer",
    [
        b'{"stream":"KV_calls","seq":12}',
        b'{"stream":"cb","seq":3,"duplicate":true}',
        b'{"stream":"s","seq":4,"batch":"b1","count":2}',
        b'{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 1"}}',
    ],
)
async def test_the_jetstream_publish_reads_answers_as_nats_pys_does(answer: bytes) -> None:
    async def publish(js: JetStreamContext) -> object:
        try:
            return await js.publish("subject", b"body", headers={"A": "1"})
        except APIError as exc:
            return (type(exc), exc.err_code, exc.description)

    connection: Any = _Answering(answer)
    assert await publish(JetStream(connection)) == await publish(JetStreamContext(connection))
