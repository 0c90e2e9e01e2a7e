"""``X-Callback-Url`` guarded against SSRF at enqueue: a refused host is a 400 and nothing is queued."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from nats.aio.client import Client

from faasq.natsserver import NatsServer
from tests.support.gateway_process import message_count, running_gateway, settings_for

pytestmark = pytest.mark.integration


async def post(gateway: httpx.AsyncClient, callback: str) -> httpx.Response:
    return await gateway.post("/async-function/echo", content=b"x", headers={"X-Callback-Url": callback})


@pytest.mark.parametrize(
    ("callback", "message"),
    [
        ("http://169.254.169.254/latest/meta-data/",
         "X-Callback-Url refused: callback host '169.254.169.254' (169.254.169.254) is a link-local, unspecified "
         "or cloud metadata address"),
        ("http://[fe80::1]:8080/", "X-Callback-Url refused: callback host 'fe80::1' (fe80::1) is a link-local"),
        ("http://[fd00:ec2::254]/", "X-Callback-Url refused: callback host 'fd00:ec2::254' (fd00:ec2::254) is a link"),
        ("http://metadata.google.internal/computeMetadata/v1/",
         "X-Callback-Url refused: callback host 'metadata.google.internal' is a cloud metadata service"),
    ],
)  # fmt: skip
async def test_link_local_and_metadata_callbacks_are_refused_and_nothing_is_queued(
    provider_url: str, nats_server: NatsServer, nc: Client, unique_stream: str, tmp_path: Path,
    callback: str, message: str,
) -> None:  # fmt: skip
    async with running_gateway(settings_for(provider_url, nats_server, unique_stream, tmp_path)) as gateway:
        refused = await post(gateway, callback)
        assert (refused.status_code, refused.text[: len(message)]) == (400, message)
        assert "x-call-id" in refused.headers
        assert await message_count(nc, unique_stream) == 0
        assert (await post(gateway, "http://127.0.0.1:9/cb")).status_code == 202  # loopback stays allowed
        assert (await post(gateway, "http://10.0.0.7/cb")).status_code == 202  # and private addresses
        assert await message_count(nc, unique_stream) == 2


async def test_the_allow_list_and_the_deny_switch(
    provider_url: str, nats_server: NatsServer, nc: Client, unique_stream: str, tmp_path: Path
) -> None:
    settings = settings_for(
        provider_url, nats_server, unique_stream, tmp_path, callback_allowed_hosts=".example.com,127.0.0.0/8"
    )
    async with running_gateway(settings) as gateway:
        assert (await post(gateway, "http://hooks.example.com/cb")).status_code == 202
        assert (await post(gateway, "http://127.0.0.1:9/cb")).status_code == 202
        refused = await post(gateway, "http://10.0.0.7/cb")
        assert (refused.status_code, refused.text) == (
            400, "X-Callback-Url refused: callback host '10.0.0.7' (10.0.0.7) is not in the callback allow-list"
        )  # fmt: skip
        assert await message_count(nc, unique_stream) == 2
    open_settings = settings_for(provider_url, nats_server, unique_stream, tmp_path, callback_deny_link_local=False)
    async with running_gateway(open_settings) as gateway:
        assert (await post(gateway, "http://169.254.169.254/")).status_code == 202
        assert await message_count(nc, unique_stream) == 3
