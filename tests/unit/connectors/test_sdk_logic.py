"""The SDK's pure parts: topics, call ids, results, delivery records, settings."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from calls.wire import CALL_ID_PATTERN
from connectors.sdk import (
    ConnectorSettings,
    Delivery,
    Event,
    EventResult,
    MemoryDeliveryLog,
    Subscriber,
    call_id_for,
    topic_map,
    topics_of,
)
from connectors.sdk.invoker import invoke_headers, is_accepted


def test_topics_are_split_on_the_delimiter_trimmed_and_deduplicated() -> None:
    assert topics_of({"topic": " a, b ,,a "}, ",") == ["a", "b"]
    assert topics_of({"topic": "a|b,c"}, "|") == ["a", "b,c"]
    assert topics_of({}, ",") == []


def test_the_topic_map_lists_each_topics_functions_sorted() -> None:
    functions = [Subscriber("z", {"topic": "t1,t2"}), Subscriber("a", {"topic": "t1"}), Subscriber("n", {})]
    assert topic_map(functions, ",") == {"t1": ("a", "z"), "t2": ("z",)}


def test_call_ids_are_stable_per_event_and_function_and_valid_for_the_gateway() -> None:
    first = call_id_for("cron", "e1", "fn")
    assert first == call_id_for("cron", "e1", "fn")
    assert len({first, call_id_for("cron", "e1", "other"), call_id_for("cron", "e2", "fn")}) == 3
    assert CALL_ID_PATTERN.match(first)
    assert CALL_ID_PATTERN.match(call_id_for("../ weird name!", "x" * 500, "f"))


def _delivery(function: str, status: int | None, accepted: bool) -> Delivery:
    return Delivery(function, "id", status, accepted, error=None if status else "timed out")


def test_an_event_is_done_only_when_every_function_accepted_it() -> None:
    event = Event("t", id="e")
    partial = EventResult(event, ("a", "b"), (_delivery("a", 200, True), _delivery("b", 500, False)))
    assert not partial.done
    assert partial.accepted == ("a",)
    assert partial.describe_failure() == "1 of 2 functions did not accept the event: b: 500"
    retried = EventResult(event, ("a", "b"), (_delivery("b", 200, True),), earlier=("a",))
    assert retried.done
    assert retried.accepted == ("a", "b")
    assert EventResult(event, ()).done
    assert _delivery("c", None, False).summary == "c: timed out"


def test_accepted_means_2xx_sync_and_202_async() -> None:
    assert is_accepted(204, asynchronous=False)
    assert not is_accepted(200, asynchronous=True)
    assert is_accepted(202, asynchronous=True)
    assert not is_accepted(500, asynchronous=False)


def test_invoke_headers_name_the_topic_connector_call_and_callback() -> None:
    settings = ConnectorSettings(asynchronous_invocation=True, callback_url="http://cb/x")
    headers = dict(
        invoke_headers(Event("t", content_type="application/json", headers=(("X-A", "1"),)), "cid", "hook", settings)
    )
    assert headers["X-A"] == "1"
    assert headers["Content-Type"] == "application/json"
    assert (headers["X-Topic"], headers["X-Connector"], headers["X-Call-Id"]) == ("t", "hook", "cid")
    assert headers["X-Callback-Url"] == "http://cb/x"
    assert headers["User-Agent"].startswith("faasq-connector-hook/")
    forced = dict(
        invoke_headers(Event("t", content_type="a/b"), "c", "n", ConnectorSettings(content_type="text/plain"))
    )
    assert forced["Content-Type"] == "text/plain"
    assert "X-Callback-Url" not in forced


async def test_delivery_records_expire_and_are_bounded() -> None:
    now = [0.0]
    log = MemoryDeliveryLog(max_events=2, ttl=10, clock=lambda: now[0])
    await log.record("e1", "a")
    await log.record("e1", "b")
    assert await log.accepted("e1") == {"a", "b"}
    await log.record("e2", "a")
    await log.record("e3", "a")
    assert await log.accepted("e1") == frozenset()  # the oldest event went
    now[0] = 11
    assert await log.accepted("e3") == frozenset()
    await log.record("e4", "a")
    await log.forget("e4")
    assert await log.accepted("e4") == frozenset()


@pytest.mark.parametrize(
    ("values", "message"),
    [({"gateway_url": "ftp://x"}, "expected an http"), ({"rebuild_interval": "0s"}, "must be positive")],
)
def test_bad_settings_are_refused_clearly(values: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ConnectorSettings.model_validate(values)
