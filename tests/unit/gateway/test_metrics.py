"""Which queue and priority a consumer on the calls' stream serves, read from its filter subjects."""

from __future__ import annotations

from datetime import UTC, datetime

from nats.js.api import ConsumerConfig, ConsumerInfo

from gateway.metrics import queue_of_consumer


def consumer(filter_subject: str | None = None, filter_subjects: list[str] | None = None) -> ConsumerInfo:
    config = ConsumerConfig(filter_subject=filter_subject, filter_subjects=filter_subjects)
    return ConsumerInfo(name="c", stream_name="faas-request", config=config, created=datetime.now(UTC))


def test_a_workers_consumer_names_its_queue_and_priority_in_its_filters() -> None:
    filters = ["faas-request.default", "faas-request.default.>"]
    assert queue_of_consumer("faas-request", consumer(filter_subjects=filters)) == ("default", "normal")
    assert queue_of_consumer("faas-request", consumer(filter_subject="faas-request.batch.>")) == ("batch", "normal")
    assert queue_of_consumer("faas-request", consumer(filter_subjects=["faas-request.batch=high.>"])) == (
        "batch",
        "high",
    )


def test_a_consumer_without_a_queue_filter_is_no_queue() -> None:
    assert queue_of_consumer("faas-request", consumer()) is None
    assert queue_of_consumer("faas-request", consumer(filter_subject="other.default.>")) is None
