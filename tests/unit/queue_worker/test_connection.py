from __future__ import annotations

import pytest
from nats.aio.client import Client

from calls.wire import QueuedCall
from queue_worker.connection import _Client

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
    assert _Client._parse_header_lines(raw) == Client._parse_header_lines(raw)


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
    await publish(_Client(), "fast")
    assert sent["fast"] == sent["nats-py"]
