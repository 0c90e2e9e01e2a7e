"""``X-Priority`` and ``com.faasq.priority``: a call's priority decides the subject it is stored on."""

from __future__ import annotations

import httpx
import pytest

from calls.flow import Priority
from tests.support.gateway_fakes import FakeLink, FakeLookup, function


@pytest.fixture
def lookup() -> FakeLookup:
    return FakeLookup(
        function("echo"),
        function("bulk", annotations={"com.faasq.priority": "low"}),
        function("odd", annotations={"com.faasq.priority": "urgent"}),
    )


@pytest.mark.parametrize(
    ("function", "header", "priority", "part"),
    [
        ("echo", None, Priority.NORMAL, "default"),
        ("echo", "high", Priority.HIGH, "default=high"),
        ("echo", " LOW ", Priority.LOW, "default=low"),
        ("bulk", None, Priority.LOW, "default=low"),  # the function's default
        ("bulk", "normal", Priority.NORMAL, "default"),  # the call's own wins
    ],
)
async def test_a_calls_priority_picks_its_subject(
    client: httpx.AsyncClient, link: FakeLink, function: str, header: str | None, priority: Priority, part: str
) -> None:
    headers = {"X-Priority": header} if header is not None else {}
    response = await client.post(f"/async-function/{function}", content=b"x", headers=headers)
    assert response.status_code == 202, response.text
    [(subject, call)] = link.published
    assert (subject, call.priority) == (f"faas-request.{part}.{response.headers['x-call-id']}", priority)


@pytest.mark.parametrize("path", ["/async-function/echo", "/async-batches/echo"])
async def test_a_priority_not_in_the_list_is_400_and_queues_nothing(
    client: httpx.AsyncClient, link: FakeLink, path: str
) -> None:
    response = await client.post(path, content=b"x", headers={"X-Priority": "urgent"})
    assert (response.status_code, response.text) == (400, "X-Priority must be one of high, normal, low (got 'urgent')")
    assert link.published == []


async def test_a_function_with_a_bad_priority_annotation_has_its_calls_refused(
    client: httpx.AsyncClient, link: FakeLink
) -> None:
    response = await client.post("/async-function/odd", content=b"x")
    assert response.status_code == 400
    assert "annotation com.faasq.priority must be one of high, normal, low, got 'urgent'" in response.text
    assert link.published == []
