"""The call routes over a link without JetStream, and over a status store that cannot be reached."""

from __future__ import annotations

from pathlib import Path

import pytest

from calls.status import CallRecord
from calls.status_store import StatusConflict
from gateway.app import create_app
from gateway.calls import Cancelled
from tests.support.gateway_fakes import FakeLink, FakeLookup, serve, settings_with


async def test_without_jetstream_the_call_routes_answer_503(tmp_path: Path) -> None:
    async with serve(create_app(settings_with(tmp_path), link=FakeLink(), lookup=FakeLookup())) as client:
        for response in (await client.get("/async-calls/c1"), await client.delete("/async-function/c1")):
            assert (response.status_code, response.text, response.headers["x-call-id"]) == (
                503, "not connected to NATS", "c1",
            )  # fmt: skip


class Conflicted:
    async def status(self, call_id: str) -> CallRecord | None:
        raise StatusConflict(f"call {call_id}: its status kept changing under 20 tries")

    async def cancel(self, call_id: str) -> Cancelled:
        raise OSError("connection reset")


async def test_a_store_fault_is_a_logged_503(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    app = create_app(settings_with(tmp_path), link=FakeLink(), lookup=FakeLookup(), calls=Conflicted())
    async with serve(app) as client:
        status = await client.get("/async-calls/c1")
        cancel = await client.delete("/async-calls/c2")
    assert (status.status_code, status.text) == (503, "call c1: its status kept changing under 20 tries")
    assert (cancel.status_code, cancel.text) == (503, "connection reset")
    assert "cancel of call c2 failed: connection reset" in caplog.text
