from __future__ import annotations

import io

import pytest

from plumbing.sessions import SessionOwner, body_payload


class Client(SessionOwner):
    pass


async def test_the_session_exists_only_inside_the_block_and_is_closed_after() -> None:
    client = Client(skip_auto_headers=("User-Agent",))
    with pytest.raises(RuntimeError, match=r"^Client used outside its 'async with' block$"):
        client.session  # noqa: B018 - the property raises
    async with client as opened:
        session = opened.session
        assert not session.closed
        assert session.cookie_jar.__class__.__name__ == "DummyCookieJar"
        assert session.skip_auto_headers == frozenset({"User-Agent"})
    assert session.closed
    with pytest.raises(RuntimeError):
        client.session  # noqa: B018


def test_a_body_over_1_mib_is_handed_to_aiohttp_as_a_stream() -> None:
    small, large = b"x" * 1024 * 1024, b"y" * (1024 * 1024 + 1)
    assert body_payload(small) is small
    streamed = body_payload(large)
    assert isinstance(streamed, io.BytesIO)
    assert streamed.read() == large
