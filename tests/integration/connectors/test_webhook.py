"""The webhook connector against the real gateway: each signature preset, and the refusals that invoke nothing.

Signatures are computed here from each sender's documented scheme, not with the connector's code.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from connectors.sdk import run_connector
from connectors.webhook.config import WebhookSettings
from connectors.webhook.connector import WebhookConnector
from tests.support.connector_kit import Gateway, deploy, lines, logging_function, unique
from tests.support.polling import eventually
from tests.support.sockets import bound_socket

pytestmark = pytest.mark.integration

SECRET = "It's a Secret to Everybody"
BODY = b'{"action": "opened", "number": 1}\r\n\x00\xff'  # bytes that must arrive as they are

CONFIG = """\
topics:
  github: {signature: github, secret: github-secret}
  stripe: {signature: stripe, secret: stripe-secret}
  slack: {signature: slack, secret: slack-secret, tolerance: 60s}
  custom:
    {signature: hmac, header: X-Signature, algorithm: sha512, encoding: base64, prefix: "v1:", secret_file: custom.key}
  cli: {signature: faas-cli, header: X-Signed, secret: cli-secret}
  open: {signature: none}
  retry: {signature: none}
  down: {signature: none}
"""


def hex_hmac(payload: bytes, digest: str = "sha256") -> str:
    return hmac.new(SECRET.encode(), payload, digest).hexdigest()


@asynccontextmanager
async def webhook(
    gateway: Gateway, tmp_path: Path, max_body_bytes: int = 1024 * 1024, upstream_timeout: str = "30s"
) -> AsyncIterator[httpx.AsyncClient]:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for name in ("github-secret", "stripe-secret", "slack-secret", "cli-secret"):
        (secrets / name).write_text(SECRET + "\n")
    (tmp_path / "custom.key").write_text(SECRET)
    (tmp_path / "webhooks.yml").write_text(CONFIG)
    sock = bound_socket()
    settings = WebhookSettings.model_validate(
        {
            "gateway_url": gateway.url,
            "webhook_config": tmp_path / "webhooks.yml",
            "secret_mount_path": secrets,
            "listen_fd": os.dup(sock.fileno()),
            "max_body_bytes": max_body_bytes,
            "rebuild_interval": "0.2s",
            "rebuild_timeout": "0.5s",
            "upstream_timeout": upstream_timeout,
        }
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run_connector(WebhookConnector(settings), stop))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:

            async def healthy() -> bool | None:
                if task.done():
                    pytest.fail(f"the connector stopped: {task.exception()!r}")
                try:
                    return True if (await client.get("/healthz")).status_code == 200 else None
                except httpx.TransportError:
                    return None

            await eventually(healthy, within=10)
            yield client
    finally:
        stop.set()
        await task
        sock.close()


def signed(topic: str, body: bytes) -> dict[str, str]:
    now = str(int(time.time()))
    match topic:
        case "github":
            return {"X-Hub-Signature-256": "sha256=" + hex_hmac(body), "X-GitHub-Event": "pull_request"}
        case "stripe":
            return {"Stripe-Signature": f"t={now},v1={hex_hmac(now.encode() + b'.' + body)},v0=ignored"}
        case "slack":
            return {
                "X-Slack-Request-Timestamp": now,
                "X-Slack-Signature": "v0=" + hex_hmac(b"v0:" + now.encode() + b":" + body),
            }
        case "custom":
            digest = hmac.new(SECRET.encode(), body, hashlib.sha512).digest()
            return {"X-Signature": "v1:" + base64.b64encode(digest).decode()}
        case "cli":
            return {"X-Signed": "sha256=" + hex_hmac(body)}
    return {}


@pytest.fixture
async def subscribed(gateway: Gateway, tmp_path: Path) -> Path:
    """One function subscribed to every topic of CONFIG, logging each body in hex."""
    log = tmp_path / "calls"
    topics = "github,stripe,slack,custom,cli,open"
    await deploy(
        gateway, unique("hook"), f"sh -c 'od -An -tx1 -v | tr -d \" \\n\" >> {log}; echo >> {log}'", {"topic": topics}
    )
    return log


@pytest.mark.parametrize("topic", ["github", "stripe", "slack", "custom", "cli", "open"])
async def test_a_signed_webhook_reaches_the_function_byte_for_byte(
    gateway: Gateway, tmp_path: Path, subscribed: Path, topic: str
) -> None:
    async with webhook(gateway, tmp_path) as client:
        response = await client.post(f"/webhook/{topic}", content=BODY, headers=signed(topic, BODY))
    assert response.status_code == 202, response.text
    assert response.json()["topic"] == topic
    assert lines(subscribed) == [BODY.hex()]


async def test_refused_webhooks_invoke_nothing(gateway: Gateway, tmp_path: Path, subscribed: Path) -> None:
    stale = str(int(time.time()) - 600)
    refusals = [
        ("github", BODY, {}, 401),
        ("github", BODY, {"X-Hub-Signature-256": "sha256=" + hex_hmac(BODY + b"tampered")}, 401),
        ("stripe", BODY, {"Stripe-Signature": f"t={stale},v1={hex_hmac(stale.encode() + b'.' + BODY)}"}, 401),
        (
            "slack",
            BODY,
            {
                "X-Slack-Request-Timestamp": stale,
                "X-Slack-Signature": "v0=" + hex_hmac(b"v0:" + stale.encode() + b":" + BODY),
            },
            401,
        ),
        ("unknown", BODY, {}, 404),
        ("open", b"x" * 101, {}, 413),
    ]
    async with webhook(gateway, tmp_path, max_body_bytes=100) as client:
        for topic, body, headers, status in refusals:
            response = await client.post(f"/webhook/{topic}", content=body, headers=headers)
            assert response.status_code == status, (topic, response.text)
        assert (await client.get("/webhook/open")).status_code == 405
        accepted = await client.post("/webhook/open", content=b"ok")
    assert accepted.status_code == 202
    assert lines(subscribed) == [b"ok".hex()]


async def test_a_partial_failure_answers_502_and_a_retry_calls_only_the_failed_function(
    gateway: Gateway, tmp_path: Path
) -> None:
    good, flaky = unique("good"), unique("flaky")
    good_log, flaky_log = tmp_path / "good", tmp_path / "flaky"
    await deploy(gateway, good, logging_function(good_log), {"topic": "retry"})
    await deploy(gateway, flaky, logging_function(flaky_log, fail_first=tmp_path / "failed"), {"topic": "retry"})
    headers = {"Idempotency-Key": "delivery-1"}
    async with webhook(gateway, tmp_path) as client:
        first = await client.post("/webhook/retry", content=b"hi", headers=headers)
        assert first.status_code == 502
        assert first.json()["failed"] == {flaky: 500}
        assert first.json()["accepted"] == [good]
        second = await client.post("/webhook/retry", content=b"hi", headers=headers)
    assert second.status_code == 202
    assert lines(good_log) == ["hi"]
    assert lines(flaky_log) == ["hi"]


async def test_no_answer_from_the_gateway_is_a_503(gateway: Gateway, tmp_path: Path) -> None:
    await deploy(gateway, unique("any"), "cat", {"topic": "down"})
    async with webhook(gateway, tmp_path, upstream_timeout="0.5s") as client:
        await gateway.stop()
        response = await client.post("/webhook/down", content=b"hi")
        await gateway.start()
    assert response.status_code == 503
    assert "did not accept the event" in response.json()["error"]
