"""faasq's NATS client against a real server: its requests are answered, or fail as nats-py's do."""

from __future__ import annotations

import asyncio

import pytest
from nats import errors
from nats.aio.msg import Msg

from plumbing.nats_client import NatsClient

pytestmark = pytest.mark.integration


async def _echo(msg: Msg) -> None:
    await msg.respond(msg.data)


async def _ignore(msg: Msg) -> None:
    pass


async def test_requests_made_together_before_any_other_are_each_answered(nats_url: str) -> None:
    client = NatsClient()
    await client.connect(nats_url)
    try:
        await client.subscribe("faasq-test.echo", cb=_echo)
        answers = await asyncio.gather(*(client.request("faasq-test.echo", b"%d" % i, timeout=5) for i in range(20)))
        assert [answer.data for answer in answers] == [b"%d" % i for i in range(20)]
    finally:
        await client.close()


async def test_a_request_with_no_responder_or_no_answer_fails_as_nats_pys_does(nats_url: str) -> None:
    client = NatsClient()
    await client.connect(nats_url)
    try:
        with pytest.raises(errors.NoRespondersError):
            await client.request("faasq-test.nobody", b"", timeout=5)
        await client.subscribe("faasq-test.silent", cb=_ignore)
        with pytest.raises(errors.TimeoutError):
            await client.request("faasq-test.silent", b"", timeout=0.2)
        assert not client._resp_map  # nothing left waiting
    finally:
        await client.close()
