"""Dead letters written by the worker: calls given up on, undeliverable and refused callbacks; nothing lost."""

from __future__ import annotations

import time
from dataclasses import replace
from functools import partial
from typing import Any

import pytest
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from calls.deadletters import DeadLetterEntry, Kind, call_filter
from calls.streams import ensure_dead_letter_stream
from faasq.natsserver import NatsServer
from queue_worker.config import WorkerSettings
from tests.support.polling import eventually
from tests.support.worker import Receiver, call, invocations, publish, running, worker_settings

pytestmark = pytest.mark.integration


async def dead_letter_of(js: JetStreamContext, stream: str, call_id: str) -> DeadLetterEntry | None:
    try:
        msg = await js.get_last_msg(stream, call_filter(stream, call_id))
    except NotFoundError:
        return None
    return DeadLetterEntry.from_message(msg.headers, msg.data or b"", msg.seq or 0)


async def queue_empty(js: JetStreamContext, stream: str) -> bool | None:
    return True if (await js.stream_info(stream)).state.messages == 0 else None


def settings_for(nats_server: NatsServer, stream: str, provider_url: str, **fields: Any) -> WorkerSettings:
    """Two runs per call, 10ms apart; callbacks retried 10ms apart."""
    retries = {"max_retry_attempts": 2, "initial_retry_wait": "10ms", "max_retry_wait": "10ms"}
    return worker_settings(nats_server, stream, provider_url, callback_initial_wait="10ms", **retries | fields)


async def test_a_call_out_of_attempts_is_dead_lettered_whole_and_its_callback_gets_the_failure(
    nats_server: NatsServer, unique_stream: str, js: JetStreamContext, provider_url: str, failing: str,
    receiver: tuple[Receiver, str],
) -> None:  # fmt: skip
    app, url = receiver
    settings = settings_for(nats_server, unique_stream, provider_url)
    body = bytes(range(256)) * 4
    queued = call("doomed.1", failing, f"{url}/cb", body, query="a=1&b=2", path="/x/y", headers=[("X-Mine", "v")])
    before = await invocations(provider_url, failing)
    async with running(settings) as summaries:
        await publish(js, unique_stream, queued)
        (callback,) = (await app.wait_for({"doomed.1"}))["doomed.1"]
        entry = await eventually(lambda: dead_letter_of(js, settings.dead_letter_stream, "doomed.1"))
        await eventually(lambda: queue_empty(js, unique_stream))
    assert await invocations(provider_url, failing) - before == 2
    assert summaries[0].dead_lettered == 1
    assert callback.headers["x-function-status"] == "500"  # one callback, with the final failure
    assert len(app.calls) == 1
    assert entry.call == queued
    assert (entry.kind, entry.status, entry.attempts) == (Kind.FUNCTION, "500", 2)
    assert entry.reason == "HTTP 500 after 2 attempts"
    assert abs(entry.dead_at_ns - time.time_ns()) < 60e9


async def test_a_failed_dead_letter_write_leaves_the_call_for_redelivery(
    nats_server: NatsServer, unique_stream: str, js: JetStreamContext, provider_url: str, failing: str,
    receiver: tuple[Receiver, str], caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    _, url = receiver
    settings = settings_for(nats_server, unique_stream, provider_url, ack_wait="1s")
    async with running(settings) as summaries:
        await eventually(lambda: _exists(js, settings.dead_letter_stream))  # created at start-up
        await js.delete_stream(settings.dead_letter_stream)  # then gone: the write fails
        await publish(js, unique_stream, call("kept", failing, f"{url}/cb", b"x"))
        await eventually(lambda: _logged(caplog, "call kept failed in the worker; left for redelivery"), within=10)
        assert (await js.stream_info(unique_stream)).state.messages == 1  # not terminated
        await ensure_dead_letter_stream(js, settings.dead_letter_stream, max_age=3600, max_bytes=-1)
        # Redelivered after ack_wait: out of attempts again, and this time its dead letter is stored.
        entry = await eventually(lambda: dead_letter_of(js, settings.dead_letter_stream, "kept"), within=15)
        await eventually(lambda: queue_empty(js, unique_stream))
    assert entry.attempts == 3
    assert (summaries[0].errors, summaries[0].dead_lettered) == (1, 2)


async def _exists(js: JetStreamContext, stream: str) -> bool | None:
    try:
        await js.stream_info(stream)
    except NotFoundError:
        return None
    return True


async def _logged(caplog: pytest.LogCaptureFixture, text: str) -> bool | None:
    return True if any(text in record.getMessage() for record in caplog.records) else None


async def test_an_undeliverable_callback_is_dead_lettered_without_running_the_function_again(
    nats_server: NatsServer, unique_stream: str, js: JetStreamContext, provider_url: str,
    receiver: tuple[Receiver, str],
) -> None:  # fmt: skip
    app, url = receiver
    app.fail_first["/down"] = 100
    before = await invocations(provider_url, "cat")
    settings = settings_for(nats_server, unique_stream, provider_url, callback_attempts=3, callback_max_wait="20ms")
    async with running(settings) as summaries:
        await publish(js, unique_stream, call("unheard", "cat", f"{url}/down", b"result"))
        entry = await eventually(lambda: dead_letter_of(js, settings.dead_letter_stream, "unheard"))
        await eventually(lambda: queue_empty(js, unique_stream))
    assert app.refused == ["/down"] * 3
    assert await invocations(provider_url, "cat") - before == 1
    assert (summaries[0].done, summaries[0].callbacks_failed, summaries[0].dead_lettered) == (1, 1, 0)
    assert (entry.kind, entry.status, entry.attempts, entry.call.body) == (Kind.CALLBACK, "callback", 1, b"result")
    assert entry.reason == "callback failed 3 times, last: HTTP 500"


async def test_a_call_given_up_on_whose_callback_failed_too_has_one_dead_letter_saying_both(
    nats_server: NatsServer, unique_stream: str, js: JetStreamContext, provider_url: str, failing: str,
    receiver: tuple[Receiver, str],
) -> None:  # fmt: skip
    app, url = receiver
    app.fail_first["/down"] = 100
    settings = settings_for(nats_server, unique_stream, provider_url, callback_attempts=2)
    async with running(settings):
        await publish(js, unique_stream, call("both", failing, f"{url}/down", b"x"))

        async def said_both() -> DeadLetterEntry | None:
            entry = await dead_letter_of(js, settings.dead_letter_stream, "both")
            return entry if entry is not None and "callback" in entry.reason else None

        entry = await eventually(said_both, within=20)
        await eventually(lambda: queue_empty(js, unique_stream))
    assert (entry.kind, entry.status) == (Kind.FUNCTION, "500")
    assert entry.reason == "HTTP 500 after 2 attempts; and its callback failed 2 times, last: HTTP 500"
    assert (await js.stream_info(settings.dead_letter_stream)).state.messages == 1


LINK_LOCAL = "is a link-local, unspecified or cloud metadata address"


@pytest.mark.parametrize(
    ("callback", "allow", "prefix", "suffix"),
    [
        ("http://169.254.169.254/latest", "", "callback host '169.254.169.254' (169.254.169.254) ", LINK_LOCAL),
        ("http://[fe80::1]:9/", "", "callback host 'fe80::1' (fe80::1) ", LINK_LOCAL),
        ("http://metadata.google.internal/", "", "callback host 'metadata.google.internal' ", "metadata service"),
        # Allowed as written (only a CIDR is listed), refused once resolved: the DNS check stops it.
        ("http://localhost:9/", "10.0.0.0/8", "callback host 'localhost' (", ") is not in the callback allow-list"),
    ],
)
async def test_a_refused_callback_host_is_never_contacted_and_dead_lettered(
    nats_server: NatsServer, unique_stream: str, js: JetStreamContext, provider_url: str,
    callback: str, allow: str, prefix: str, suffix: str,
) -> None:  # fmt: skip
    settings = settings_for(nats_server, unique_stream, provider_url, callback_allowed_hosts=allow)
    async with running(settings) as summaries:
        await publish(js, unique_stream, call("ssrf", "cat", callback, b"x"))
        entry = await eventually(lambda: dead_letter_of(js, settings.dead_letter_stream, "ssrf"))
    assert entry.kind is Kind.CALLBACK
    assert entry.reason.startswith(f"callback refused: {prefix}")
    assert entry.reason.endswith(suffix)
    assert summaries[0].callbacks_failed == 1


async def test_loopback_callbacks_are_allowed_by_default(
    nats_server: NatsServer, unique_stream: str, js: JetStreamContext, provider_url: str,
    receiver: tuple[Receiver, str],
) -> None:  # fmt: skip
    app, url = receiver
    settings = settings_for(nats_server, unique_stream, provider_url)
    async with running(settings):
        await publish(js, unique_stream, call("local", "cat", url.replace("127.0.0.1", "localhost") + "/cb", b"x"))
        await app.wait_for({"local"})
    with pytest.raises(NotFoundError):
        await js.get_last_msg(settings.dead_letter_stream, call_filter(settings.dead_letter_stream, "local"))


async def test_a_call_past_its_max_event_age_is_dead_lettered_unrun(
    nats_server: NatsServer, unique_stream: str, js: JetStreamContext, provider_url: str,
    receiver: tuple[Receiver, str],
) -> None:  # fmt: skip
    app, url = receiver
    settings = settings_for(nats_server, unique_stream, provider_url, max_event_age="1m")
    before = await invocations(provider_url, "cat")
    old = call("stale", "cat", f"{url}/cb", b"x")
    async with running(settings):
        await publish(js, unique_stream, replace(old, enqueued_at_ns=time.time_ns() - 3600 * 10**9))
        entry = await eventually(lambda: dead_letter_of(js, settings.dead_letter_stream, "stale"))
        (callback,) = (await app.wait_for({"stale"}))["stale"]
    assert (entry.kind, entry.status, entry.attempts) == (Kind.MAX_AGE, "max-age", 1)
    assert entry.reason == "older than max event age 60s"
    assert callback.headers["x-function-status"] == "410"
    assert await invocations(provider_url, "cat") == before


async def test_a_call_whose_deadline_passed_while_it_waited_is_dead_lettered_unrun(
    nats_server: NatsServer, unique_stream: str, js: JetStreamContext, provider_url: str,
    receiver: tuple[Receiver, str],
) -> None:  # fmt: skip
    app, url = receiver
    settings = settings_for(nats_server, unique_stream, provider_url)
    before = await invocations(provider_url, "cat")
    late = replace(call("late", "cat", f"{url}/cb", b"x"), deadline_ns=time.time_ns() - 10**9)
    on_time = replace(call("on-time", "cat", f"{url}/cb", b"y"), deadline_ns=time.time_ns() + 60 * 10**9)
    async with running(settings):
        await publish(js, unique_stream, late)
        await publish(js, unique_stream, on_time)
        entry = await eventually(lambda: dead_letter_of(js, settings.dead_letter_stream, "late"))
        callbacks = await app.wait_for({"late", "on-time"})
    assert (entry.kind, entry.status, entry.attempts) == (Kind.DEADLINE, "deadline", 1)
    assert entry.reason.startswith("deadline 20")
    assert entry.reason.endswith("passed before the call could start")
    assert callbacks["late"][0].headers["x-function-status"] == "410"
    assert (callbacks["on-time"][0].headers["x-function-status"], callbacks["on-time"][0].body) == ("200", b"y")
    assert await invocations(provider_url, "cat") == before + 1


async def test_failures_past_the_retry_budget_are_dead_lettered_as_retry_budget_and_called_back(
    nats_server: NatsServer, unique_stream: str, js: JetStreamContext, provider_url: str, failing: str,
    receiver: tuple[Receiver, str],
) -> None:  # fmt: skip
    app, url = receiver
    # One retry allowed for every two first attempts, none for free: of 6 failing calls, 3 are retried.
    settings = settings_for(nats_server, unique_stream, provider_url, retry_budget=0.5, retry_budget_min=0)
    ids = [f"broken.{n}" for n in range(6)]
    async with running(settings) as summaries:
        for call_id in ids:  # one at a time, so the count goes first attempt, decision, first attempt, ...
            await publish(js, unique_stream, call(call_id, failing, f"{url}/cb", b"x"))
            await app.wait_for({call_id})
        entries = [await eventually(partial(dead_letter_of, js, settings.dead_letter_stream, c)) for c in ids]
    kinds = [entry.kind for entry in entries]
    assert kinds.count(Kind.RETRY_BUDGET) == 3, [e.reason for e in entries]
    assert kinds.count(Kind.FUNCTION) == 3  # retried, and out of attempts
    assert summaries[0].retried == 3
    spent = next(entry for entry in entries if entry.kind is Kind.RETRY_BUDGET)
    assert (spent.status, spent.attempts) == ("500", 1)
    assert spent.reason.startswith(f"HTTP 500 on attempt 1; not retried: the retry budget of {failing} is spent")
    assert all(len(app.by_call_id()[call_id]) == 1 for call_id in ids)
