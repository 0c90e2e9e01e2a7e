"""``faasq up`` with connectors: a scheduled function runs; a signed webhook and a stream entry reach theirs."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.support.polling import until
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

STACK = """\
provider: {{name: openfaas}}
functions:
  tick:
    fprocess: sh -c 'echo tick >> {log}/ticks'
    annotations: {{topic: cron-function, schedule: "* * * * * *", com.faasq.cron.timezone: Europe/Paris}}
  hook:
    fprocess: sh -c 'cat >> {log}/hooks; echo >> {log}/hooks'
    annotations: {{topic: pushes}}
  order:
    fprocess: sh -c 'cat >> {log}/orders'
    annotations: {{topic: orders}}
"""


@pytest.fixture
def stack(tmp_path: Path, redis_server: str) -> Iterator[Stack]:
    (tmp_path / "stack.yml").write_text(STACK.format(log=tmp_path))
    (tmp_path / "push.key").write_text("k3y\n")
    (tmp_path / "hooks.yml").write_text("topics:\n  pushes: {signature: github, secret_file: push.key}\n")
    webhook = ("--webhook-config", str(tmp_path / "hooks.yml"), "--webhook-port", "0")
    args = (*webhook, "--redis-url", redis_server, "--redis-streams", "orders")
    # Functions, then three more children: under a loaded machine that takes longer than a bare stack.
    running = Stack(tmp_path / "stack.yml", tmp_path / "state", args=args, within=100)
    try:
        yield running
    finally:
        running.close()


@pytest.mark.timeout(180)
def test_up_runs_cron_the_webhook_and_the_redis_connector(stack: Stack, tmp_path: Path, redis_server: str) -> None:
    assert stack.ready["connectors"] == ["cron", "redis", "webhook"]
    webhooks = stack.ready["webhooks"]
    assert f"Webhooks:  POST {webhooks}<topic>" in stack.lines
    until(lambda: True if (tmp_path / "ticks").exists() else None, within=30)
    body = b'{"ref": "refs/heads/main"}'
    signature = "sha256=" + hmac.new(b"k3y", body, hashlib.sha256).hexdigest()
    refused = httpx.post(f"{webhooks}pushes", content=body, headers={"X-Hub-Signature-256": "sha256=00"})
    assert refused.status_code == 401
    accepted = httpx.post(f"{webhooks}pushes", content=body, headers={"X-Hub-Signature-256": signature}, timeout=30)
    assert accepted.status_code == 202, accepted.text
    assert (tmp_path / "hooks").read_bytes() == body + b"\n"
    client = redis.Redis.from_url(redis_server)
    until(lambda: True if client.exists("orders") and client.xinfo_groups("orders") else None, within=30)
    client.xadd("orders", {"body": b"order 42"})
    until(lambda: True if (tmp_path / "orders").exists() and (tmp_path / "orders").read_bytes() else None, within=30)
    assert (tmp_path / "orders").read_bytes() == b"order 42"
    client.close()
