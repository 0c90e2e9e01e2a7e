"""Signed callbacks, checked by the verification snippet the README gives to receivers."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from nats.js import JetStreamContext

from faasq.natsserver import NatsServer
from tests.support.worker import Receiver, call, publish, running, worker_settings

pytestmark = pytest.mark.integration

README = Path(__file__).parents[3] / "README.md"

Verify = Callable[..., bool]


def readme_verifier() -> Verify:
    """``verify_callback`` as the README prints it."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    (snippet,) = [block for block in blocks if "def verify_callback" in block]
    namespace: dict[str, Any] = {}
    exec(snippet, namespace)  # the README's own code, tested as receivers will run it
    verify: Verify = namespace["verify_callback"]
    return verify


@pytest.mark.parametrize("source", ["setting", "file"])
async def test_a_signed_callback_verifies_with_the_readme_snippet_and_a_tampered_one_does_not(
    nats_server: NatsServer, unique_stream: str, js: JetStreamContext, provider_url: str,
    receiver: tuple[Receiver, str], tmp_path: Path, source: str,
) -> None:  # fmt: skip
    app, url = receiver
    secret = "s3cret with spaces"
    if source == "setting":
        fields: dict[str, Any] = {"callback_signing_secret": secret}
    else:
        (tmp_path / "callback-signing-secret").write_text(secret + "\n")
        fields = {"secret_mount_path": str(tmp_path)}
    body = b"\x00binary\xffbody"
    async with running(worker_settings(nats_server, unique_stream, provider_url, **fields)):
        await publish(js, unique_stream, call("signed-1", "cat", f"{url}/cb", body))
        (received,) = (await app.wait_for({"signed-1"}))["signed-1"]
    verify = readme_verifier()
    key = secret.encode()
    headers = received.headers
    assert received.body == body
    assert abs(int(headers["x-faasq-timestamp"]) - time.time()) < 60
    assert headers["x-faasq-signature"].startswith("v1=")
    assert verify(key, headers, received.body)
    assert not verify(key, headers, received.body + b"!")
    assert not verify(b"another secret", headers, received.body)
    assert not verify(key, headers | {"x-call-id": "signed-2"}, received.body)
    assert not verify(key, headers, received.body, tolerance=-1)  # too old
    assert not verify(key, {k: v for k, v in headers.items() if k != "x-faasq-timestamp"}, received.body)


async def test_without_a_secret_callbacks_are_not_signed(
    nats_server: NatsServer, unique_stream: str, js: JetStreamContext, provider_url: str,
    receiver: tuple[Receiver, str], tmp_path: Path,
) -> None:  # fmt: skip
    app, url = receiver
    settings = worker_settings(nats_server, unique_stream, provider_url, secret_mount_path=str(tmp_path))
    async with running(settings):
        await publish(js, unique_stream, call("plain", "cat", f"{url}/cb", b"x"))
        (received,) = (await app.wait_for({"plain"}))["plain"]
    assert "x-faasq-signature" not in received.headers
    assert "x-faasq-timestamp" not in received.headers
