"""The call routes' own logic: which requests are the cancel form, and a status store that cannot be reached."""

from __future__ import annotations

from pathlib import Path

import pytest

from calls.status import CallRecord
from calls.status_store import StatusConflict
from gateway.app import create_app
from gateway.calls import Cancelled, cancel_form_call_id
from tests.unit.gateway.conftest import serve, settings_with
from tests.unit.gateway.fakes import FakeLookup, FakePublisher


@pytest.mark.parametrize(
    ("method", "path", "call_id"),
    [
        ("DELETE", "/async-function/0f8fad5b-d9cb", "0f8fad5b-d9cb"),
        ("DELETE", "/async-function/order.7:a", "order.7:a"),
        ("DELETE", "/async-function/echo/", None),  # a path after the name: an async DELETE call
        ("DELETE", "/async-function/echo/x", None),
        ("DELETE", "/async-function/", None),
        ("POST", "/async-function/0f8fad5b-d9cb", None),
        ("DELETE", "/function/0f8fad5b-d9cb", None),
    ],
)
def test_the_cancel_form_is_a_delete_with_nothing_after_the_name(method: str, path: str, call_id: str | None) -> None:
    assert cancel_form_call_id(method, path) == call_id


async def test_without_jetstream_the_call_routes_answer_503(tmp_path: Path) -> None:
    async with serve(create_app(settings_with(tmp_path), publisher=FakePublisher(), lookup=FakeLookup())) as client:
        for response in (await client.get("/async-calls/c1"), await client.delete("/async-function/c1")):
            assert (response.status_code, response.text, response.headers["x-call-id"]) == (
                503, "not connected to NATS", "c1",
            )  # fmt: skip


class Conflicted:
    async def startup(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def status(self, call_id: str) -> CallRecord | None:
        raise StatusConflict(f"call {call_id}: its status kept changing under 20 tries")

    async def cancel(self, call_id: str) -> Cancelled:
        raise OSError("connection reset")


async def test_a_store_fault_is_a_logged_503(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    app = create_app(settings_with(tmp_path), publisher=FakePublisher(), lookup=FakeLookup(), calls=Conflicted())
    async with serve(app) as client:
        status = await client.get("/async-calls/c1")
        cancel = await client.delete("/async-calls/c2")
    assert (status.status_code, status.text) == (503, "call c1: its status kept changing under 20 tries")
    assert (cancel.status_code, cancel.text) == (503, "connection reset")
    assert "cancel of call c2 failed: connection reset" in caplog.text
