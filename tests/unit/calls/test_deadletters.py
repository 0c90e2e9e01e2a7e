"""The dead-letter stream's format: subjects, headers, and decoding."""

from __future__ import annotations

import pytest

from calls.deadletters import DeadLetterEntry, Kind, call_filter, subject_filter, subject_token
from calls.wire import MalformedCall, QueuedCall


def test_subject_tokens_escape_what_would_split_or_match_subjects() -> None:
    assert subject_token("abc-1_2:3") == "abc-1_2:3"
    assert subject_token("a.b") == "a%2Eb"
    assert subject_token("a*b>c d%") == "a%2Ab%3Ec%20d%25"
    assert subject_token("é") == "%C3%A9"
    assert subject_token("") == "%"


def test_filters() -> None:
    assert subject_filter("dl") == "dl.>"
    assert subject_filter("dl", function="f") == "dl.*.f.*"
    assert subject_filter("dl", namespace="ns") == "dl.ns.*.*"
    assert subject_filter("dl", namespace="ns", function="f") == "dl.ns.f.*"
    assert call_filter("dl", "id.1:2") == "dl.*.*.id/1=2"


def test_an_entry_round_trips_through_its_headers() -> None:
    call = QueuedCall("id.1", "fn", "ns", "PUT", "/p", "q=1", "http://cb/", 12, "lane", [("A", "1")], b"\x00body")
    entry = DeadLetterEntry(call, Kind.CALLBACK, "failed:\r\nbadly", "callback", 2, 99)
    headers = entry.nats_headers()
    assert "Nats-Msg-Id" not in headers
    assert headers["Faasq-Dead-Reason"] == "failed: badly"
    assert entry.subject("dl") == "dl.ns.fn.id/1"
    decoded = DeadLetterEntry.from_message(headers, call.body, 7)
    assert decoded == DeadLetterEntry(call, Kind.CALLBACK, "failed: badly", "callback", 2, 99, seq=7)


@pytest.mark.parametrize(
    "extra", [{"Faasq-Dead-Kind": "nope"}, {"Faasq-Dead-Attempts": "x"}, {"Faasq-Dead-At": "soon"}]
)
def test_undecodable_dead_letter_metadata(extra: dict[str, str]) -> None:
    headers = QueuedCall("id", "fn", "ns").nats_headers() | extra
    with pytest.raises(MalformedCall, match="dead letter id: undecodable metadata"):
        DeadLetterEntry.from_message(headers, b"", 1)
