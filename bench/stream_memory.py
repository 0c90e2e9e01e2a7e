"""What a queued call costs nats-server: its memory and the stream's bytes per message, by what the message carries.

Starts a fresh nats-server for each variant, creates a work-queue stream like the calls'
(file storage, a duplicate window of 2 minutes), stores ``--messages`` messages of a 5-byte
body with a call's ``Faasq-Call`` header (nothing consuming them), and reports the server's
resident memory grown per message and the stream's bytes per message. The variants add, one
at a time, what faasq's calls carry: ``Nats-Msg-Id`` (JetStream keeps each id for its
duplicate window) and a subject of its own per call (``<stream>.<queue>.<call-id>``, which
nats-server indexes), then both, as faasq stores them.

Run: ``.venv/bin/python -m bench.stream_memory`` (``--messages 50000`` for a quick look).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path

import nats
from nats.js.api import RetentionPolicy, StorageType, StreamConfig

from bench.backlog import rss_mib
from calls.wire import QueuedCall
from faasq.natsserver import NatsServer

VARIANTS = [
    ("one subject, no message id", False, False),
    ("one subject, Nats-Msg-Id", False, True),
    ("a subject per call, no message id", True, False),
    ("a subject per call, Nats-Msg-Id (faasq)", True, True),
]


async def measure(messages: int, per_call_subject: bool, msg_id: bool) -> tuple[float, float]:
    """Memory grown (bytes per message) and stream bytes per message for one variant."""
    with tempfile.TemporaryDirectory() as store, NatsServer.start(Path(store)) as server:
        nc = await nats.connect(server.url)
        try:
            js = nc.jetstream()
            config = StreamConfig(
                name="calls",
                subjects=["calls.>"],
                retention=RetentionPolicy.WORK_QUEUE,
                storage=StorageType.FILE,
                duplicate_window=120,
            )
            await js.add_stream(config)
            before = rss_mib(server.process.pid)
            for index in range(messages):
                call_id = str(uuid.uuid4())
                call = QueuedCall(call_id, "echo", "openfaas-fn", enqueued_at_ns=time.time_ns())
                headers = call.nats_headers(None if msg_id else "")
                headers.pop("Faasq-Call-Id", None)  # only a copy's message carries it
                subject = f"calls.default.{call_id}" if per_call_subject else "calls.default"
                await nc.publish(subject, b"hello", headers=headers)
                if index % 5000 == 0:
                    await nc.flush()
            await nc.flush()
            for _ in range(600):  # within two minutes
                if (state := (await js.stream_info("calls")).state).messages >= messages:
                    break
                await asyncio.sleep(0.2)
            else:
                raise RuntimeError(f"the stream holds {state.messages:,} of {messages:,} messages")
            grown = (rss_mib(server.process.pid) - before) * 1024 * 1024 / messages
            return grown, state.bytes / messages
        finally:
            await nc.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--messages", type=int, default=200_000, help="messages stored per variant (200,000)")
    args = parser.parse_args()
    print(f"{'messages carry':<42} {'nats-server memory':>20} {'stream bytes':>14}")
    for name, per_call_subject, msg_id in VARIANTS:
        grown, stored = await measure(args.messages, per_call_subject, msg_id)
        print(f"{name:<42} {grown:>14.0f} B/msg {stored:>8.0f} B/msg", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
