"""``/system/dead-letters`` and ``faasq dlq``: a real gateway, a real worker, real dead letters, real redrives."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from nats.js import JetStreamContext

from calls.deadletters import DeadLetterEntry, Kind
from calls.status import CallState, queued_record
from calls.status_store import CallStore
from calls.wire import QueuedCall
from faasq.natsserver import NatsServer
from queue_worker.config import WorkerSettings
from tests.support.cli import faasq_against
from tests.support.gateway_process import running_gateway, settings_for
from tests.support.polling import eventually
from tests.support.worker import Receiver, invocations, running, worker_settings

pytestmark = pytest.mark.integration


@dataclass
class Stack:
    gateway: httpx.AsyncClient
    worker: WorkerSettings
    receiver: Receiver
    callback_url: str


@pytest.fixture
async def stack(
    nats_server: NatsServer, unique_stream: str, provider_url: str, receiver: tuple[Receiver, str], tmp_path: Path
) -> AsyncIterator[Stack]:
    """A gateway and a worker (two runs per call) on the test's own streams and status bucket."""
    app, url = receiver
    gateway_settings = settings_for(provider_url, nats_server, unique_stream, tmp_path)
    worker = worker_settings(
        nats_server, unique_stream, provider_url, max_retry_attempts=2, initial_retry_wait="10ms",
        max_retry_wait="10ms", callback_attempts=2, callback_initial_wait="10ms",
    )  # fmt: skip
    async with running_gateway(gateway_settings) as gateway, running(worker):
        yield Stack(gateway, worker, app, url)


async def enqueue(stack: Stack, function: str, body: bytes, callback_path: str = "/cb") -> str:
    headers = {"X-Callback-Url": f"{stack.callback_url}{callback_path}", "X-Mine": "kept"}
    accepted = await stack.gateway.post(f"/async-function/{function}/p?q=1", content=body, headers=headers)
    assert accepted.status_code == 202, accepted.text
    return accepted.headers["X-Call-Id"]


async def listed(stack: Stack, **params: str) -> list[dict[str, Any]]:
    response = await stack.gateway.get("/system/dead-letters", params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def dead_lettered(stack: Stack, count: int) -> list[dict[str, Any]]:
    async def enough() -> list[dict[str, Any]] | None:
        items = await listed(stack)
        return items if len(items) >= count else None

    return await eventually(enough, within=15)


async def test_list_filter_show_redrive_and_purge_over_the_api(
    stack: Stack, provider_url: str, failing: str, unique_stream: str
) -> None:
    stack.receiver.fail_first["/down"] = 2  # the cat call's callback fails both its attempts
    failed = [await enqueue(stack, failing, b"first \xff"), await enqueue(stack, failing, b"second")]
    unheard = await enqueue(stack, "cat", b"heard late", "/down")
    items = await dead_lettered(stack, 3)
    assert {i["callId"] for i in items} == {*failed, unheard}
    by_id = {item["callId"]: item for item in items}
    assert {k: by_id[failed[0]][k] for k in ("function", "namespace", "kind", "status", "attempts", "reason")} == {
        "function": "fail", "namespace": "openfaas-fn", "kind": "function", "status": "500", "attempts": 2,
        "reason": "HTTP 500 after 2 attempts",
    }  # fmt: skip
    assert (by_id[unheard]["kind"], by_id[unheard]["status"], by_id[unheard]["attempts"]) == ("callback", "callback", 1)

    # Filters and pages.
    assert {i["callId"] for i in await listed(stack, function="fail")} == set(failed)
    assert [i["callId"] for i in await listed(stack, function="cat")] == [unheard]
    assert len(await listed(stack, namespace="openfaas-fn")) == 3
    assert await listed(stack, namespace="elsewhere") == []
    assert len(await listed(stack, since="1h")) == 3
    assert await listed(stack, since="2999-01-01T00:00:00Z") == []
    first = (await stack.gateway.get("/system/dead-letters", params={"limit": "2"})).json()
    assert len(first["items"]) == 2
    assert first["nextCursor"] is not None
    rest = (await stack.gateway.get("/system/dead-letters", params={"cursor": first["nextCursor"]})).json()
    assert (len(rest["items"]), rest["nextCursor"]) == (1, None)

    # Show: metadata, reason, the body byte for byte, the original headers.
    shown = (await stack.gateway.get(f"/system/dead-letters/{failed[0]}")).json()
    assert base64.b64decode(shown["body"]) == b"first \xff"
    assert shown["bodyText"] is None
    assert (shown["method"], shown["path"], shown["query"]) == ("POST", "/p", "q=1")
    assert ["x-mine", "kept"] in shown["headers"]
    assert shown["callbackUrl"] == f"{stack.callback_url}/cb"
    assert (await stack.gateway.get(f"/system/dead-letters/{unheard}")).json()["bodyText"] == "heard late"

    # Redrive one: the same call id runs again and its callback arrives; its dead letter is gone.
    before = await invocations(provider_url, "cat")
    redriven = await stack.gateway.post(f"/system/dead-letters/{unheard}/redrive")
    assert (redriven.status_code, redriven.json()) == (202, {"redriven": [unheard]})
    (callback,) = (await stack.receiver.wait_for({unheard}))[unheard]
    assert (callback.path, callback.body, callback.headers["x-function-status"]) == ("/down", b"heard late", "200")
    assert await invocations(provider_url, "cat") - before == 1
    assert (await stack.gateway.get(f"/system/dead-letters/{unheard}")).status_code == 404

    # Redrive all of a function: fresh attempt counts (two more runs each), dead-lettered again.
    before = await invocations(provider_url, failing)
    seqs = {i["callId"]: i["seq"] for i in await listed(stack)}
    everything = await stack.gateway.post("/system/dead-letters/redrive", params={"function": "fail"})
    assert everything.status_code == 202
    assert set(everything.json()["redriven"]) == set(failed)

    async def dead_again() -> list[dict[str, Any]] | None:
        items = await listed(stack, function="fail")
        return items if len(items) == 2 and all(i["seq"] > seqs[i["callId"]] for i in items) else None

    again = await eventually(dead_again, within=15)
    assert [i["attempts"] for i in again] == [2, 2]
    assert await invocations(provider_url, failing) - before == 4

    # Purge one, then all that match.
    purged = await stack.gateway.delete(f"/system/dead-letters/{failed[0]}")
    assert (purged.status_code, purged.json()) == (200, {"purged": [failed[0]]})
    assert (await stack.gateway.get(f"/system/dead-letters/{failed[0]}")).status_code == 404
    assert (await stack.gateway.delete("/system/dead-letters", params={"function": "fail"})).json() == {
        "purged": [failed[1]]
    }
    assert await listed(stack) == []


async def test_a_redrive_queues_the_same_call_under_a_fresh_message_id_and_its_status_back_to_queued(
    nats_server: NatsServer, unique_stream: str, provider_url: str, js: JetStreamContext, tmp_path: Path
) -> None:
    dead_letters, bucket = f"{unique_stream}-dl", f"{unique_stream}-calls"
    settings = settings_for(provider_url, nats_server, unique_stream, tmp_path)
    call = QueuedCall("again.1", "cat", "openfaas-fn", "PUT", "/p", "", None, 1, "default", [("A", "1")], b"body")
    store = await CallStore.open(js, bucket=bucket)
    await store.put(queued_record(call).to(CallState.DEAD))
    async with running_gateway(settings) as gateway:
        assert (await gateway.get("/system/dead-letters")).json()["items"] == []  # creates the stream
        entry = DeadLetterEntry(call, Kind.FUNCTION, "HTTP 500 after 3 attempts", "500", 3, time.time_ns())
        ack = await js.publish(entry.subject(dead_letters), call.body, headers=entry.nats_headers())
        assert (await gateway.post("/system/dead-letters/again.1/redrive")).status_code == 202
        assert (await gateway.post("/system/dead-letters/again.1/redrive")).status_code == 404
    assert (await js.stream_info(unique_stream)).state.messages == 1
    queued = await js.get_last_msg(unique_stream, f"{unique_stream}.default.again/1")
    assert queued.headers is not None
    assert queued.headers["Nats-Msg-Id"] == f"again.1:redrive:{ack.seq}"
    again = QueuedCall.from_message(queued.headers, queued.data or b"")
    assert again == replace(call, enqueued_at_ns=again.enqueued_at_ns)
    assert again.enqueued_at_ns > time.time_ns() - 60 * 10**9
    versioned = await store.get("again.1")
    assert versioned is not None
    assert versioned.record.state is CallState.QUEUED
    assert (await js.stream_info(dead_letters)).state.messages == 0


async def test_a_redrive_that_cannot_be_queued_is_a_503_and_keeps_the_dead_letter(
    nats_server: NatsServer, unique_stream: str, provider_url: str, js: JetStreamContext, tmp_path: Path
) -> None:
    dead_letters = f"{unique_stream}-dl"
    settings = settings_for(provider_url, nats_server, unique_stream, tmp_path)
    call = QueuedCall("kept.1", "cat", "openfaas-fn", body=b"x")
    async with running_gateway(settings) as gateway:
        assert (await gateway.get("/system/dead-letters")).status_code == 200
        entry = DeadLetterEntry(call, Kind.FUNCTION, "timeout after 3 attempts", "timeout", 3, time.time_ns())
        await js.publish(entry.subject(dead_letters), call.body, headers=entry.nats_headers())
        await js.delete_stream(unique_stream)  # nowhere to queue it
        refused = await gateway.post("/system/dead-letters/kept.1/redrive")
        assert refused.status_code == 503
        assert "call kept.1 not queued again" in refused.json()["detail"]
        assert (await gateway.get("/system/dead-letters/kept.1")).json()["reason"] == "timeout after 3 attempts"


@pytest.mark.parametrize(
    ("path", "params", "status", "message"),
    [
        ("/system/dead-letters", {"since": "yesterday"}, 400, "invalid since: invalid time 'yesterday'"),
        ("/system/dead-letters", {"function": "a.b"}, 400, "invalid function 'a.b'"),
        ("/system/dead-letters", {"namespace": "a b"}, 400, "invalid namespace 'a b'"),
        ("/system/dead-letters", {"cursor": "x"}, 400, "invalid cursor 'x'"),
        ("/system/dead-letters/no-such-call", {}, 404, "no dead letter for call 'no-such-call'"),
        ("/system/dead-letters/bad%20id", {}, 400, "invalid call id 'bad id'"),
    ],
)
async def test_bad_filters_and_unknown_call_ids_are_refused_with_a_message(
    stack: Stack, path: str, params: dict[str, str], status: int, message: str
) -> None:
    response = await stack.gateway.get(path, params=params)
    assert response.status_code == status
    assert response.json()["detail"].startswith(message)
    if "cursor" in params:  # only a listing has pages
        return
    if path.endswith("-letters"):  # the filters of redrive and purge are checked alike
        others = [
            await stack.gateway.post(f"{path}/redrive", params=params),
            await stack.gateway.delete(path, params=params),
        ]
    else:  # one call id: redrive and purge refuse it alike
        others = [await stack.gateway.post(f"{path}/redrive"), await stack.gateway.delete(path)]
    for refused in others:
        assert (refused.status_code, refused.json()["detail"][: len(message)]) == (status, message)


async def test_the_routes_need_the_gateways_credentials(
    nats_server: NatsServer, unique_stream: str, provider_url: str, tmp_path: Path
) -> None:
    (tmp_path / "basic-auth-user").write_text("admin")
    (tmp_path / "basic-auth-password").write_text("pw")
    settings = settings_for(provider_url, nats_server, unique_stream, tmp_path, basic_auth=True)
    async with running_gateway(settings) as gateway:
        assert (await gateway.get("/system/dead-letters")).status_code == 401
        assert (await gateway.post("/system/dead-letters/redrive")).status_code == 401
        allowed = await gateway.get("/system/dead-letters", auth=("admin", "pw"))
        assert (allowed.status_code, allowed.json()) == (200, {"items": [], "nextCursor": None})


async def test_faasq_dlq_lists_shows_redrives_and_purges(
    stack: Stack, provider_url: str, failing: str, tmp_path: Path
) -> None:
    stack.receiver.fail_first["/down"] = 2
    failed = await enqueue(stack, failing, b"payload")
    unheard = await enqueue(stack, "cat", b"late", "/down")
    await dead_lettered(stack, 2)

    async def cli(*argv: str) -> tuple[int, str, str]:
        return await asyncio.to_thread(faasq_against, stack.gateway, tmp_path, *argv)

    code, out, _ = await cli("dlq", "list")
    lines = out.splitlines()
    assert code == 0
    assert len(lines) == 3
    assert lines[0].split("\t")[:5] == [f"{'Call ID':<36}", f"{'Function':<20}", f"{'Kind':<8}", f"{'Status':<16}",
                                        f"{'Attempts':<8}"]  # fmt: skip
    assert any(
        line.startswith(f"{failed:<36}\tfail.openfaas-fn") and "HTTP 500 after 2 attempts" in line for line in lines
    )
    code, out, _ = await cli("dlq", "list", "--function", "cat", "--since", "10m")
    assert [line.split("\t")[0].strip() for line in out.splitlines()[1:]] == [unheard]
    code, out, err = await cli("dlq", "list", "--limit", "1")
    assert len(out.splitlines()) == 2
    assert "--cursor" in err

    code, out, _ = await cli("dlq", "show", failed)
    assert code == 0
    assert f"Call ID:       {failed}" in out.splitlines()
    assert "Reason:        HTTP 500 after 2 attempts" in out.splitlines()
    assert out.splitlines()[-1] == "payload"
    code, _, err = await cli("dlq", "show", "nope")
    assert (code, err.strip()) == (1, "faasq: 404 Not Found: no dead letter for call 'nope'")

    code, out, _ = await cli("dlq", "redrive", unheard)
    assert (code, out.splitlines()) == (0, [f"Redriven: {unheard}", "1 dead letter queued again."])
    await stack.receiver.wait_for({unheard})

    code, _, err = await cli("dlq", "purge")
    assert (code, err.strip()) == (
        1,
        "faasq: dlq purge: name a CALL_ID or use --all (with --function, --namespace, --since to narrow it)",
    )
    code, out, _ = await cli("dlq", "purge", "--all", "--function", "fail")
    assert (code, out.splitlines()) == (0, [f"Purged: {failed}", "1 dead letter purged."])
    code, out, _ = await cli("dlq", "list")
    assert out.splitlines()[1:] == []
