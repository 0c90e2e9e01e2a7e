"""The pure rules of flow control: what a call carries, its slots, its token bucket, the annotations."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from calls.flow import Limits, Priority, Slots, Tokens, concurrency_key_of, key_scope
from calls.wire import QueuedCall
from provider.types import PRIORITIES, FlowAnnotations, FunctionDeployment, flow_annotations, parse_rate


def test_a_call_carries_its_limits_and_runs_through_the_queue() -> None:
    limits = Limits(concurrency=3, per_key=1, key=concurrency_key_of("tenant ü"), rate=100 / 60, burst=2)
    call = QueuedCall("c1", "fn", "ns", limits=limits, runs=2)
    assert QueuedCall.from_message(call.nats_headers(), b"") == call
    assert QueuedCall.from_message(QueuedCall("c2", "fn", "ns").nats_headers(), b"").limits is None


def test_a_concurrency_key_travels_as_a_digest_that_is_a_valid_bucket_key() -> None:
    key = concurrency_key_of("a.b c/ü")
    assert (len(key), key.isalnum()) == (32, True)
    assert key_scope("fn", "ns", key) == f"key.ns.fn.{key}"
    assert key_scope("fn", "", key) == f"key._.fn.{key}"  # a call without a namespace: still a valid key
    assert concurrency_key_of(None) == ""
    for bad in ("", "   ", "x" * 257):
        with pytest.raises(ValueError, match="X-Concurrency-Key must be 1 to 256 characters"):
            concurrency_key_of(bad)


def test_slots_admit_up_to_the_limit_and_lapsed_leases_free_theirs() -> None:
    slots = Slots()
    for lease in ("a", "b", "c"):
        taken = slots.admit(lease, 3, now=100, until=200)
        assert taken is not None
        slots = Slots.decode(taken.encode())
    assert slots.admit("d", 3, now=100, until=200) is None
    assert slots.admit("d", 3, now=201, until=300) is not None  # the three lapsed: their workers died
    freed = slots.release("b", now=101)
    assert sorted(freed.leases) == ["a", "c"]
    assert freed.admit("d", 3, now=101, until=200) is not None


def test_a_429_halves_the_limit_once_per_congestion_and_successes_grow_it_back() -> None:
    slots = Slots({f"l{n}": 500.0 for n in range(8)})
    refused = slots.refused("l0", now=100, retry_after=0)
    assert (refused.adaptive, refused.limit(0, 100)) == (4.0, 4)  # 8 under way, halved
    assert refused.refused("l1", now=100.5, retry_after=0).adaptive == 4.0  # the same burst of 429s
    assert refused.refused("l1", now=102, retry_after=0).adaptive == 2.0  # a new congestion: the limit halved
    grown = refused
    for n in range(4):
        grown = grown.release(f"l{n + 1}", now=101, succeeded=True)
    assert grown.adaptive == pytest.approx(4 + 1 / 4 + 1 / 4.25 + 1 / 4.485 + 1 / 4.708, abs=0.01)
    assert refused.release("l1", now=100 + 61).adaptive is None  # a minute without a 429: the limit lapses
    assert Slots().refused("x", now=100, retry_after=0, running=5).adaptive == 2.5


def test_retry_after_holds_every_run_of_the_function_until_then() -> None:
    refused = Slots().refused("x", now=100, retry_after=3)
    assert refused.full(0, now=102)
    assert not refused.full(0, now=103.1)
    assert refused.wakes_at(now=101) == 103


def test_a_token_bucket_starts_full_refills_at_its_rate_and_says_how_long_to_wait() -> None:
    bucket = Tokens.decode(None, burst=2, now=10)
    bucket, wait = bucket.take(rate=5, burst=2, now=10)
    bucket, wait2 = bucket.take(rate=5, burst=2, now=10)
    assert (wait, wait2) == (0, 0)
    same, wait = bucket.take(rate=5, burst=2, now=10.1)
    assert same == bucket
    assert wait == pytest.approx(0.1)
    bucket, wait = Tokens.decode(bucket.encode(), burst=2, now=11).take(rate=5, burst=2, now=11)
    assert wait == 0
    assert bucket.tokens == pytest.approx(1)  # refilled to the burst, not beyond


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        ({}, FlowAnnotations()),
        ({"com.faasq.concurrency": "3"}, FlowAnnotations(concurrency=3)),
        ({"com.faasq.concurrency-per-key": " 1 "}, FlowAnnotations(concurrency_per_key=1)),
        ({"com.faasq.rate": "5/s", "com.faasq.rate-burst": "10"}, FlowAnnotations(rate=5, rate_burst=10)),
        ({"com.faasq.rate": "90/m"}, FlowAnnotations(rate=1.5)),
        ({"com.faasq.rate": "36 / h"}, FlowAnnotations(rate=0.01)),
        ({"com.faasq.priority": " High"}, FlowAnnotations(priority="high")),
    ],
)
def test_flow_annotations_read(annotations: dict[str, str], expected: FlowAnnotations) -> None:
    assert flow_annotations(annotations) == expected


@pytest.mark.parametrize(
    ("annotations", "message"),
    [
        ({"com.faasq.concurrency": "-1"}, "annotation com.faasq.concurrency must be a whole number from 1"),
        ({"com.faasq.concurrency": "0"}, "annotation com.faasq.concurrency must be a whole number from 1"),
        ({"com.faasq.concurrency-per-key": "two"}, "annotation com.faasq.concurrency-per-key must be a whole"),
        ({"com.faasq.rate": "fast"}, "annotation com.faasq.rate must be a rate such as 5/s, 100/m or 1000/h"),
        ({"com.faasq.rate": "0/s"}, "annotation com.faasq.rate must be a rate such as 5/s"),
        ({"com.faasq.rate": "5/d"}, "annotation com.faasq.rate must be a rate such as 5/s"),
        ({"com.faasq.rate-burst": "5"}, "annotation com.faasq.rate-burst needs com.faasq.rate"),
        ({"com.faasq.priority": "urgent"}, "annotation com.faasq.priority must be one of high, normal, low"),
        ({"com.faasq.priority": ""}, "annotation com.faasq.priority must be one of high, normal, low"),
    ],
)
def test_a_bad_flow_annotation_is_refused_naming_it(annotations: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        flow_annotations(annotations)
    with pytest.raises(ValueError, match="must be a rate"):
        parse_rate("5 per second")


def test_the_priorities_an_annotation_may_name_are_the_ones_a_call_may_have() -> None:
    assert tuple(Priority) == PRIORITIES
    assert sorted(Priority, key=lambda p: p.rank) == [Priority.HIGH, Priority.NORMAL, Priority.LOW]
    assert Priority.parse(" LOW", "X-Priority") is Priority.LOW
    with pytest.raises(ValueError, match=re.escape("X-Priority must be one of high, normal, low (got 'top')")):
        Priority.parse("top", "X-Priority")


def test_a_deployment_with_a_bad_flow_annotation_does_not_validate() -> None:
    body = {"service": "fn", "image": "fn:latest", "annotations": {"com.faasq.rate": "fast"}}
    with pytest.raises(ValidationError, match=r"annotation com\.faasq\.rate must be a rate"):
        FunctionDeployment.model_validate(body)
    body["annotations"] = {"com.faasq.rate": "5/s"}
    assert FunctionDeployment.model_validate(body).annotations == {"com.faasq.rate": "5/s"}
