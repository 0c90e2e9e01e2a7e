"""The Redis connector's pure parts: settings, entries and messages as events, the verdict, reconnect waits."""

from __future__ import annotations

import json
import os

import pytest
from pydantic import ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from connectors.redis.config import RedisSettings
from connectors.redis.connection import is_lost, reconnect_delay
from connectors.redis.connector import RedisConnector, redacted
from connectors.redis.entries import Entry, channel_event, dead_letter_fields, stream_event
from connectors.redis.verdict import Ack, DeadLetter, Retry, decide
from connectors.registry import load
from connectors.sdk import Delivery, Event, EventResult


def settings(**values: object) -> RedisSettings:
    return RedisSettings.model_validate({"redis_streams": "orders", **values})


def test_names_and_the_topic_map_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("redis_channels", " news, alerts,,news ")
    monkeypatch.setenv("redis_topic_map", "news=headlines, alerts.*=alerts")
    monkeypatch.setenv("redis_claim_idle", "1m")
    loaded = RedisSettings()
    assert loaded.redis_channels == ("news", "alerts")
    assert loaded.redis_topic_map == {"news": "headlines", "alerts.*": "alerts"}
    assert loaded.redis_claim_idle.total_seconds() == 60
    assert loaded.topic_of("news") == "headlines"
    assert loaded.topic_of("other") == "other"
    assert loaded.redis_consumer.endswith(f"-{os.getpid()}")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"redis_streams": ""}, "nothing to consume"),
        ({"redis_url": "http://localhost"}, "expected a redis://, rediss:// or unix:// URL"),
        ({"redis_topic_map": "orders"}, "expected source=topic pairs"),
        ({"redis_dead_letter_stream": "orders"}, "must not name a consumed stream"),
        ({"redis_claim_idle": "0s"}, "must be positive"),
    ],
)
def test_bad_settings_are_refused(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        settings(**values)


def test_the_dead_letter_stream_is_named_after_the_stream() -> None:
    assert settings().dead_letter_stream("orders") == "orders:dead"
    assert settings(redis_dead_letter_stream="dlq").dead_letter_stream("orders") == "dlq"


def test_an_entry_with_a_body_field_sends_it_as_it_is() -> None:
    entry = Entry("orders", "1-0", {b"body": b"\x00\xff", b"content_type": b"application/octet-stream"}, 3)
    event = stream_event(entry, settings(redis_topic_map="orders=new-orders"))
    assert event == Event(
        "new-orders",
        b"\x00\xff",
        "orders/1-0",
        "application/octet-stream",
        (("X-Redis-Stream", "orders"), ("X-Redis-Id", "1-0"), ("X-Redis-Deliveries", "3")),
    )


def test_an_entry_without_a_body_field_is_sent_whole_as_json() -> None:
    event = stream_event(Entry("orders", "1-0", {b"order": b"7", b"qty": b"2"}), settings())
    assert (event.topic, json.loads(event.body), event.content_type) == (
        "orders",
        {"order": "7", "qty": "2"},
        "application/json",
    )
    data = stream_event(Entry("orders", "1-0", {b"data": b"x"}), settings(redis_body_field="data"))
    assert (data.body, data.content_type) == (b"x", None)


def test_a_message_takes_the_topic_of_its_channel_then_its_pattern() -> None:
    mapped = settings(redis_topic_map="news=headlines, alerts.*=alerts")
    assert channel_event("news", None, b"x", mapped).topic == "headlines"
    by_pattern = channel_event("alerts.disk", "alerts.*", b"full", mapped)
    assert (by_pattern.topic, by_pattern.body) == ("alerts", b"full")
    assert by_pattern.headers == (("X-Redis-Channel", "alerts.disk"), ("X-Redis-Pattern", "alerts.*"))
    assert channel_event("other", "o*", b"", mapped).topic == "other"


def test_the_dead_letter_copy_keeps_the_fields_and_says_why() -> None:
    entry = Entry("orders", "5-1", {b"body": b"x", b"faasq:reason": b"forged"}, 4)
    assert dead_letter_fields(entry, "refused") == {
        b"body": b"x",
        b"faasq:stream": b"orders",
        b"faasq:id": b"5-1",
        b"faasq:deliveries": b"4",
        b"faasq:reason": b"refused",
    }


def _result(*statuses: int, earlier: tuple[str, ...] = ()) -> EventResult:
    deliveries = tuple(Delivery(f"fn{n}", f"c{n}", status, 200 <= status < 300) for n, status in enumerate(statuses))
    functions = (*earlier, *(delivery.function for delivery in deliveries))
    return EventResult(Event("t", id="s/1-0"), functions, deliveries, earlier)


@pytest.mark.parametrize(
    ("result", "deliveries", "verdict"),
    [
        (_result(200, 202), 1, Ack()),
        (_result(200, earlier=("old",)), 5, Ack()),
        (_result(200, 500), 1, Retry("1 of 2 functions did not accept the event: fn1: 500")),
        (_result(500), 3, DeadLetter("1 of 1 functions did not accept the event: fn0: 500 (delivery 3 of 3)")),
        (_result(), 1, Retry("no function subscribes to topic 't'")),
        (_result(), 3, DeadLetter("no function subscribes to topic 't' (delivery 3 of 3)")),
    ],
)
def test_the_verdict(result: EventResult, deliveries: int, verdict: Ack | Retry | DeadLetter) -> None:
    assert decide(result, deliveries, max_deliveries=3) == verdict


def test_reconnect_waits_double_up_to_the_maximum() -> None:
    assert [reconnect_delay(n, 0.1, 1.0) for n in range(1, 7)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]


def test_a_lost_connection_or_group_starts_over_other_errors_do_not() -> None:
    assert is_lost(RedisConnectionError("gone"))
    assert is_lost(ResponseError("NOGROUP No such key 'orders' or consumer group 'faasq'"))
    assert not is_lost(ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"))
    assert not is_lost(ValueError("bug"))


def test_the_url_in_the_logs_has_no_password() -> None:
    assert redacted("redis://user:s3cret@host:6379/0") == "redis://user:***@host:6379/0"
    assert redacted("unix:///run/redis.sock") == "unix:///run/redis.sock"


def test_redis_is_a_built_in_connector() -> None:
    assert load("redis") is RedisConnector
