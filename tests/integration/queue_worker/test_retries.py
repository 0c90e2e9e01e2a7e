"""Retries end to end: real NATS, real functions, a real callback receiver; waits of milliseconds set per call."""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx
import pytest
from nats.js import JetStreamContext
from starlette.types import Receive, Scope, Send

from calls.deadletters import Kind
from calls.outcome import Attempt, Outcome
from calls.retry_settings import RetryOverrides
from calls.wire import QueuedCall
from faasq.natsserver import NatsServer
from queue_worker.hooks import WorkerHooks
from tests.support.gateway_process import running_gateway, settings_for
from tests.support.polling import eventually
from tests.support.provider_process import deploy
from tests.support.worker import Receiver, call, invocations, publish, running, serving, worker_settings

pytestmark = pytest.mark.integration

# Counts its runs per call id in a file; fails (exit 1: HTTP 500) while the count is under X-Fail-Times.
FLAKY = (
    "import os, sys, pathlib; "
    'p = pathlib.Path(os.environ["counter_dir"], os.environ["Http_X_Call_Id"]); '
    "n = int(p.read_text()) + 1 if p.exists() else 1; p.write_text(str(n)); "
    'print("run %d X-Retry %s/%s" % (n, os.environ["Http_X_Retry"], os.environ["Http_X_Retry_Max"])); '
    'sys.exit(1 if n <= int(os.environ.get("Http_X_Fail_Times", "0")) else 0)'
)


@pytest.fixture(scope="module")
def counters(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("counters")


@pytest.fixture(scope="module")
def flaky(provider_url: str, counters: Path) -> str:
    """The function ``flaky`` deployed on the module's provider and ready."""
    with httpx.Client(base_url=provider_url, timeout=30) as client:
        fields = {"envProcess": f"{sys.executable} -c '{FLAKY}'", "envVars": {"counter_dir": str(counters)}}
        deploy(client, {"flaky": fields})
    return "flaky"


@dataclass
class DeadLetters(WorkerHooks):
    reasons: dict[str, str] = field(default_factory=dict)

    async def dead_letter(
        self, call: QueuedCall, attempt: Attempt, outcome: Outcome, reason: str, kind: Kind | None = None
    ) -> None:
        self.reasons[call.call_id] = reason


def runs(counters: Path, call_id: str) -> int:
    path = counters / call_id
    return int(path.read_text()) if path.exists() else 0


async def test_a_call_failing_twice_through_the_gateway_runs_three_times_and_is_called_back_once(
    nats_server: NatsServer, unique_stream: str, js: JetStreamContext, provider_url: str, flaky: str,
    counters: Path, receiver: tuple[Receiver, str], tmp_path: Path,
) -> None:  # fmt: skip
    app, url = receiver
    headers = {
        "X-Callback-Url": f"{url}/cb",
        "X-Fail-Times": "2",
        "X-Retry-Attempts": "5",
        "X-Retry-Min-Wait": "1ms",
        "X-Retry-Max-Wait": "10ms",
    }
    async with (
        running_gateway(settings_for(provider_url, nats_server, unique_stream, tmp_path)) as gateway,
        running(worker_settings(nats_server, unique_stream, provider_url)) as summaries,
    ):
        accepted = await gateway.post(f"/async-function/{flaky}", content=b"", headers=headers)
        assert accepted.status_code == 202, accepted.text
        call_id = accepted.headers["X-Call-Id"]
        (one,) = (await app.wait_for({call_id}))[call_id]
        await eventually(lambda: _queue_empty(js, unique_stream))
    assert (one.headers["x-function-status"], one.headers["x-retry"], one.headers["x-retry-max"]) == ("200", "3", "5")
    assert one.body == b"run 3 X-Retry 3/5\n"  # the function saw its attempt number
    assert runs(counters, call_id) == 3
    assert len(app.calls) == 1
    assert (summaries[0].retried, summaries[0].done, summaries[0].dead_lettered) == (2, 1, 0)


async def _queue_empty(js: JetStreamContext, stream: str) -> bool | None:
    return True if (await js.stream_info(stream)).state.messages == 0 else None


async def test_a_call_that_always_fails_is_dead_lettered_after_its_attempts_with_one_final_callback(
    nats_server: NatsServer, unique_stream: str, js: JetStreamContext, provider_url: str, flaky: str,
    counters: Path, receiver: tuple[Receiver, str],
) -> None:  # fmt: skip
    app, url = receiver
    hooks = DeadLetters()
    before = await invocations(provider_url, flaky)
    async with running(worker_settings(nats_server, unique_stream, provider_url), hooks) as summaries:
        retry = RetryOverrides(max_attempts=3, min_wait=0.001, max_wait=0.01)
        doomed = call("doomed", flaky, f"{url}/cb", headers=[("X-Fail-Times", "99")], retry=retry)
        await publish(js, unique_stream, doomed)
        (one,) = (await app.wait_for({"doomed"}))["doomed"]
        await eventually(lambda: _queue_empty(js, unique_stream))
    assert (one.headers["x-function-status"], one.headers["x-retry"], one.headers["x-retry-max"]) == ("500", "3", "3")
    assert one.body == b"exit status 1\nrun 3 X-Retry 3/3\n"
    assert (runs(counters, "doomed"), await invocations(provider_url, flaky) - before, len(app.calls)) == (3, 3, 1)
    assert hooks.reasons == {"doomed": "HTTP 500 after 3 attempts"}
    assert (summaries[0].retried, summaries[0].dead_lettered, summaries[0].done) == (2, 1, 0)


@dataclass
class RetryLater:
    """A function server: 503 with ``Retry-After: 1`` on the first request, then 200; records when each came."""

    seen: list[tuple[float, dict[str, str]]] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        while (await receive()).get("more_body"):
            pass
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        self.seen.append((time.monotonic(), headers))
        status, extra = (503, [(b"retry-after", b"1")]) if len(self.seen) == 1 else (200, [])
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"2"), *extra]})
        await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture
async def retry_later() -> AsyncIterator[tuple[RetryLater, str]]:
    app = RetryLater()
    async with serving(app) as url:
        yield app, url


async def test_retry_after_is_honoured_over_the_backoff(
    nats_server: NatsServer, unique_stream: str, js: JetStreamContext, receiver: tuple[Receiver, str],
    retry_later: tuple[RetryLater, str],
) -> None:  # fmt: skip
    app, url = receiver
    function, function_url = retry_later
    # The backoff alone would wait 1 to 2 ms; Retry-After asks for a second, within the 5 s cap.
    settings = worker_settings(nats_server, unique_stream, function_url)
    async with running(settings) as summaries:
        later = call("later", "later", f"{url}/cb", retry=RetryOverrides(min_wait=0.001, max_wait=5.0))
        await publish(js, unique_stream, later)
        (one,) = (await app.wait_for({"later"}))["later"]
    (first, first_headers), (second, second_headers) = function.seen
    assert second - first >= 0.95
    assert (first_headers["x-retry"], second_headers["x-retry"], second_headers["x-retry-max"]) == ("1", "2", "3")
    assert (one.headers["x-function-status"], one.headers["x-retry"], one.body) == ("200", "2", b"ok")
    assert (summaries[0].retried, summaries[0].done) == (1, 1)


async def test_a_call_past_its_max_event_age_is_never_run_but_dead_lettered(
    nats_server: NatsServer, unique_stream: str, js: JetStreamContext, provider_url: str,
    receiver: tuple[Receiver, str],
) -> None:  # fmt: skip
    app, url = receiver
    hooks = DeadLetters()
    before = await invocations(provider_url, "cat")
    async with running(worker_settings(nats_server, unique_stream, provider_url, max_event_age="1m"), hooks):
        stale = call("stale", "cat", f"{url}/cb", b"too late", retry=RetryOverrides(max_event_age=1.0))
        old = call("old", "cat", f"{url}/cb", b"too late")
        fresh = call("fresh", "cat", f"{url}/cb", b"in time", retry=RetryOverrides(max_event_age=60.0))
        an_hour_ago = time.time_ns() - 3600 * 10**9
        for queued in (stale, old):
            await publish(js, unique_stream, replace(queued, enqueued_at_ns=an_hour_ago))
        await publish(js, unique_stream, fresh)
        received = await app.wait_for({"stale", "old", "fresh"})
    (stale_cb,), (old_cb,), (fresh_cb,) = received["stale"], received["old"], received["fresh"]
    assert (stale_cb.headers["x-function-status"], stale_cb.body, stale_cb.headers["x-retry"]) == ("410", b"", "1")
    assert old_cb.headers["x-function-status"] == "410"
    assert (fresh_cb.headers["x-function-status"], fresh_cb.body) == ("200", b"in time")
    assert hooks.reasons == {"stale": "older than max event age 1s", "old": "older than max event age 60s"}
    assert await invocations(provider_url, "cat") - before == 1
