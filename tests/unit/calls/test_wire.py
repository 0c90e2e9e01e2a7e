"""The queue's wire format round-trips every field and rejects what is not a call."""

import fnmatch

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nats.js.api import RetentionPolicy, StorageType
from pydantic import ValidationError

from calls.flow import Priority
from calls.retry_settings import RetryOverrides
from calls.streams import stream_config
from calls.wire import (
    CALL_ID_PATTERN,
    MalformedCall,
    QueuedCall,
    call_subject,
    call_token,
    is_scheduled,
    queue_filters,
    queue_subject,
    scheduled,
    waiting_subject,
)
from gateway.config import GatewaySettings
from plumbing.nats_client import NatsClient, header_block
from queue_worker.config import WorkerSettings


def test_a_call_round_trips_through_nats_headers() -> None:
    call = QueuedCall(
        call_id="0f8fad5b-d9cb-469f-a165-70867728950e",
        function="echo",
        namespace="openfaas-fn",
        method="PUT",
        path="/a/b",
        query="x=1&y=2",
        callback_url="http://127.0.0.1:9000/cb",
        enqueued_at_ns=1_700_000_000_123_456_789,
        queue="slow",
        headers=[("Content-Type", "text/plain"), ("X-Many", "1"), ("X-Many", "2"), ("X-Evil", "a\r\nb")],
        body=b"\x00hi\xff",
    )
    headers = call.nats_headers()
    assert headers["Nats-Msg-Id"] == call.call_id
    assert all("\r" not in value and "\n" not in value for value in headers.values())
    assert QueuedCall.from_message(headers, call.body) == call


@pytest.mark.parametrize(
    ("retry", "carried"),
    [
        (
            RetryOverrides(
                max_attempts=5, codes=frozenset({503, 429}), min_wait=0.001, max_wait=2.5, max_event_age=30.0
            ),
            {
                "Faasq-Retry-Attempts": "5",
                "Faasq-Retry-Codes": "429,503",
                "Faasq-Retry-Min-Wait": "0.001",
                "Faasq-Retry-Max-Wait": "2.5",
                "Faasq-Max-Event-Age": "30.0",
            },
        ),
        (
            RetryOverrides(codes=frozenset(), max_event_age=0.0),
            {"Faasq-Retry-Codes": "none", "Faasq-Max-Event-Age": "0.0"},
        ),
        (None, {}),
    ],
)
def test_a_calls_retry_overrides_round_trip(retry: RetryOverrides | None, carried: dict[str, str]) -> None:
    call = QueuedCall(call_id="c1", function="echo", namespace="fn", retry=retry)
    headers = call.nats_headers()
    assert {key: value for key, value in headers.items() if "Retry" in key or "Age" in key} == carried
    assert QueuedCall.from_message(headers, b"") == call


def test_what_every_call_has_travels_in_one_header_without_its_defaults() -> None:
    call = QueuedCall(
        call_id="0f8fad5b-d9cb-469f-a165-70867728950e",
        function="echo",
        namespace="openfaas-fn",
        enqueued_at_ns=1_796_460_300_317_575_586,
        callback_url="http://127.0.0.1:9/callback",
        headers=[("content-type", "text/plain")],
    )
    assert call.nats_headers() == {
        "Nats-Msg-Id": "0f8fad5b-d9cb-469f-a165-70867728950e",
        "Faasq-Call": '{"f":"echo","t":1796460300317575586,"c":"http://127.0.0.1:9/callback",'
        '"h":[["content-type","text/plain"]]}',
    }
    assert QueuedCall.from_message(call.nats_headers(), b"") == call
    for namespace in ["fn", ""]:  # not the default: it is said
        bare = QueuedCall(call_id="c1", function="echo", namespace=namespace)
        assert bare.nats_headers() == {"Nats-Msg-Id": "c1", "Faasq-Call": f'{{"f":"echo","t":0,"n":"{namespace}"}}'}
        assert QueuedCall.from_message(bare.nats_headers(), b"") == bare


@pytest.mark.parametrize("msg_id", ["c1:redrive:7", ""])
def test_a_message_whose_id_is_not_the_call_id_names_the_call(msg_id: str) -> None:
    call = QueuedCall(call_id="c1", function="echo", namespace="fn", enqueued_at_ns=5)
    headers = call.nats_headers(msg_id)
    assert (headers.get("Nats-Msg-Id"), headers["Faasq-Call-Id"]) == (msg_id or None, "c1")
    assert QueuedCall.from_message(headers, b"") == call


def test_a_call_in_the_older_form_one_header_per_field_is_still_read() -> None:
    headers = {
        "Nats-Msg-Id": "c1",
        "Faasq-Call-Id": "c1",
        "Faasq-Function": "echo",
        "Faasq-Namespace": "openfaas-fn",
        "Faasq-Method": "PUT",
        "Faasq-Path": "/a",
        "Faasq-Query": "x=1",
        "Faasq-Enqueued-At": "17",
        "Faasq-Queue": "slow",
        "Faasq-Headers": '[["content-type","text/plain"]]',
        "Faasq-Callback-Url": "http://127.0.0.1:9/cb",
        "Faasq-Retry-Attempts": "3",
    }
    assert QueuedCall.from_message(headers, b"hi") == QueuedCall(
        call_id="c1",
        function="echo",
        namespace="openfaas-fn",
        method="PUT",
        path="/a",
        query="x=1",
        callback_url="http://127.0.0.1:9/cb",
        enqueued_at_ns=17,
        queue="slow",
        headers=[("content-type", "text/plain")],
        body=b"hi",
        retry=RetryOverrides.from_nats_headers({"Faasq-Retry-Attempts": "3"}),
    )


@pytest.mark.parametrize(
    "headers",
    [
        None,
        {},
        {"Faasq-Function": "echo"},
        {"Faasq-Call": '{"f":"echo"}'},
        {"Nats-Msg-Id": "c1"},
        {"Nats-Msg-Id": "c1", "Faasq-Call": "{not json"},
        {"Nats-Msg-Id": "c1", "Faasq-Call": '["echo"]'},
        {"Nats-Msg-Id": "c1", "Faasq-Call": '{"n":"fn"}'},
        {"Nats-Msg-Id": "c1", "Faasq-Call": '{"f":7}'},
        {"Nats-Msg-Id": "c1", "Faasq-Call": '{"f":"echo","t":"soon"}'},
        {"Nats-Msg-Id": "c1", "Faasq-Call": '{"f":"echo","t":true}'},
        {"Nats-Msg-Id": "c1", "Faasq-Call": '{"f":"echo","h":[["a"]]}'},
        {"Nats-Msg-Id": "c1", "Faasq-Call": '{"f":"echo","h":{"a":"b"}}'},
        {"Nats-Msg-Id": "c1", "Faasq-Call": '{"f":"echo","c":null}'},
        {"Faasq-Function": "echo", "Faasq-Call-Id": "c1", "Faasq-Headers": "{not json"},
        {"Faasq-Function": "echo", "Faasq-Call-Id": "c1", "Faasq-Headers": "[1]"},
        {"Faasq-Function": "echo", "Faasq-Call-Id": "c1", "Faasq-Enqueued-At": "soon"},
        {"Faasq-Function": "echo", "Faasq-Call-Id": "c1", "Faasq-Retry-Attempts": "many"},
        {"Faasq-Function": "echo", "Faasq-Call-Id": "c1", "Faasq-Retry-Min-Wait": "2", "Faasq-Retry-Max-Wait": "1"},
    ],
)
def test_what_is_not_a_call_is_malformed(headers: dict[str, str] | None) -> None:
    with pytest.raises(MalformedCall):
        QueuedCall.from_message(headers, b"")


def test_queue_subjects() -> None:
    assert queue_subject("faas-request", "default") == "faas-request.default"
    for bad in ["", "a.b", "a b", "*", ">", "x" * 65, "q\n"]:
        with pytest.raises(ValueError, match="invalid queue name"):
            queue_subject("faas-request", bad)


@pytest.mark.parametrize("call_id", ["0f8fad5b-d9cb-469f-a165-70867728950e", "order-42", "a:b.c_d"])
def test_call_ids_accepted(call_id: str) -> None:
    assert CALL_ID_PATTERN.match(call_id)


@pytest.mark.parametrize("call_id", ["", "-lead", "has space", "new\nline", "trail\n", "x" * 129, "é"])
def test_call_ids_rejected(call_id: str) -> None:
    assert not CALL_ID_PATTERN.match(call_id)


def test_each_call_has_its_own_subject_under_its_queue() -> None:
    prefix = queue_subject("faas-request", "slow")
    assert call_subject(prefix, "0f8fad5b-d9cb") == "faas-request.slow.0f8fad5b-d9cb"
    assert call_subject(prefix, "order.7:a") == "faas-request.slow.order/7=a"  # one token, distinct from others
    assert call_token("a..b") == "a//b"
    assert waiting_subject("faas-request", "order.7:a") == "faas-request.*.order/7=a"
    assert queue_filters("faas-request", "slow") == ["faas-request.slow", "faas-request.slow.>"]


def test_a_high_or_low_call_has_a_subject_only_its_prioritys_consumer_takes() -> None:
    prefix = queue_subject("faas-request", "slow")
    high = call_subject(prefix, "c.1", Priority.HIGH)
    assert high == "faas-request.slow=high.c/1"
    assert call_subject(prefix, "c.1", Priority.LOW) == "faas-request.slow=low.c/1"
    assert queue_filters("faas-request", "slow", Priority.HIGH) == ["faas-request.slow=high.>"]
    assert not any(fnmatch.fnmatchcase(high, f.replace(">", "*")) for f in queue_filters("faas-request", "slow"))
    assert fnmatch.fnmatchcase(high, waiting_subject("faas-request", "c.1"))  # status still finds it waiting
    call = QueuedCall("c.1", "echo", "ns", priority=Priority.LOW)
    assert call.nats_headers()["Faasq-Priority"] == "low"
    assert QueuedCall.from_message(call.nats_headers(), b"") == call
    assert "Faasq-Priority" not in QueuedCall("c.1", "echo", "ns").nats_headers()
    with pytest.raises(MalformedCall, match="Faasq-Priority must be one of high, normal, low"):
        QueuedCall.from_message(call.nats_headers() | {"Faasq-Priority": "soon"}, b"")


@pytest.mark.parametrize("replicas", [1, 3])
def test_the_stream_keeps_as_many_copies_as_configured(replicas: int) -> None:
    config = stream_config("calls", duplicate_window=60, replicas=replicas)
    assert (config.name, config.subjects, config.duplicate_window) == ("calls", ["calls.>"], 60)
    assert (config.retention, config.storage, config.num_replicas) == (
        RetentionPolicy.WORK_QUEUE,
        StorageType.FILE,
        replicas,
    )


@pytest.mark.parametrize("settings_class", [GatewaySettings, WorkerSettings])
def test_stream_replicas_are_a_setting_of_both_sides(settings_class: type[GatewaySettings | WorkerSettings]) -> None:
    env = {"functions_provider_url": "http://127.0.0.1:8081"}
    assert settings_class.model_validate(env).nats_stream_replicas == 1
    assert settings_class.model_validate(env | {"nats_stream_replicas": "3"}).nats_stream_replicas == 3
    with pytest.raises(ValidationError, match="nats_stream_replicas"):
        settings_class.model_validate(env | {"nats_stream_replicas": "6"})


def test_a_delayed_call_waits_as_a_schedule_that_no_queue_takes_and_status_still_finds() -> None:
    due = 1_800_000_000_123_000_000
    call = QueuedCall("c.1:x", "echo", "openfaas-fn", enqueued_at_ns=due - 10**9, not_before_ns=due)
    subject, headers = scheduled(call, "faas-request.default.c/1=x")
    assert subject == "faas-request.=scheduled.c/1=x"
    assert is_scheduled(subject)
    assert not is_scheduled("faas-request.default.c/1=x")
    assert (headers["Nats-Schedule"], headers["Nats-Schedule-Target"]) == (
        "@at 2027-01-15T08:00:00.123Z",
        "faas-request.default.c/1=x",
    )
    assert QueuedCall.from_message(headers, b"") == call
    assert fnmatch.fnmatchcase(subject, waiting_subject("faas-request", "c.1:x").replace("*", "[!.]*"))


NAME = st.from_regex(r"\A[a-z0-9][a-z0-9-]{0,20}\Z")
LATIN_1 = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=30)
CALLS = st.builds(
    QueuedCall,
    call_id=st.from_regex(CALL_ID_PATTERN),
    function=NAME,
    namespace=st.one_of(st.just("openfaas-fn"), st.just(""), NAME),
    method=st.sampled_from(["POST", "GET", "PUT", "DELETE", "PATCH"]),
    path=st.one_of(st.just("/"), LATIN_1.map(lambda text: "/" + text)),
    query=LATIN_1,
    callback_url=st.one_of(st.none(), st.just("http://127.0.0.1:9/cb?x=é")),
    enqueued_at_ns=st.integers(0, 2**63 - 1),
    queue=st.one_of(st.just("default"), st.from_regex(r"\A[A-Za-z0-9_-]{1,64}\Z")),
    headers=st.lists(st.tuples(NAME, LATIN_1), max_size=4),
    body=st.binary(max_size=20),
    batch_id=st.one_of(st.none(), st.just("b-1")),
    deadline_ns=st.integers(0, 2**62),
    not_before_ns=st.integers(0, 2**62),
    priority=st.sampled_from(Priority),
    runs=st.integers(0, 50),
    body_object=st.one_of(st.none(), st.just("an-object")),
)


@given(CALLS, st.sampled_from([None, "", "c:redrive:7"]))
def test_any_call_comes_back_from_the_wire_as_it_was_stored(call: QueuedCall, msg_id: str | None) -> None:
    # Through the header block the NATS client sends and back through the parser that reads it.
    block = header_block(call.nats_headers(msg_id))
    headers = NatsClient._parse_header_lines(block.removeprefix(b"NATS/1.0\r\n"))
    assert QueuedCall.from_message(headers, call.body) == call
