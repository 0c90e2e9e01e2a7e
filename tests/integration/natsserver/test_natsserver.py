"""The real nats-server starts on a kernel-chosen port with JetStream, and stops cleanly."""

from __future__ import annotations

from pathlib import Path

import nats
import pytest

from faasq.natsserver import NatsServer, NatsServerError

pytestmark = pytest.mark.integration


async def test_a_started_server_takes_jetstream_messages(nats_server: NatsServer) -> None:
    assert nats_server.url.startswith("nats://127.0.0.1:")
    assert nats_server.port > 0
    client = await nats.connect(nats_server.url)
    try:
        js = client.jetstream()
        await js.add_stream(name="natsserver-smoke", subjects=["natsserver-smoke.>"])
        ack = await js.publish("natsserver-smoke.a", b"hello")
        assert (ack.stream, ack.seq) == ("natsserver-smoke", 1)
        await js.delete_stream("natsserver-smoke")
    finally:
        await client.close()


def test_stop_ends_the_process(tmp_path: Path) -> None:
    server = NatsServer.start(tmp_path)
    server.stop()
    assert server.process.returncode is not None
    assert "Server is ready" in server.log_path.read_text()


def test_a_taken_port_is_a_clear_error(nats_server: NatsServer, tmp_path: Path) -> None:
    with pytest.raises(NatsServerError, match=r"nats-server failed|exited with code"):
        NatsServer.start(tmp_path, port=nats_server.port, timeout=10)
